// authgate's fix to postgres.js 3.4.9 (RELIABILITY.md): a connection that closes under a
// reserved handle must fail its queries, not crash the process. The fixed files ship in
// vendor/postgres-3.4.9/ (fix.diff there is the change, for review); this module writes them
// over the postgres.js that authgate itself resolves, and only over the exact upstream files.
// Plain JavaScript without dependencies: it runs from `postinstall`, before anything is built.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const POSTGRES_VERSION = '3.4.9';

const VENDOR = fileURLToPath(new URL(`../vendor/postgres-${POSTGRES_VERSION}/`, import.meta.url));

/** SHA-256 of each file the fix changes: as postgres.js 3.4.9 ships it, and with the fix. */
const FILES = {
  'src/connection.js': {
    pristine: 'ee3a218d9aa6a6f2887c1a19da50009335fe84c11a5431d5cab72d6bc528632f',
    patched: 'e27343ae928c546cddbb333770f57c69f7d89a28f482cadbb22764707fd03c12',
  },
  'src/index.js': {
    pristine: '4e21f5733e70d79cffc10d10d4ef01031de4a9ac862210e43f8870029fd103ed',
    patched: '740550f1fc6b87e1ecf6e30f727904fc663febb57a7f13505bfd635aead39633',
  },
  'cjs/src/connection.js': {
    pristine: 'ce6d375809baad79963ef9b3773e6ac757bcf6da2362d4d85482bb14c2c751be',
    patched: 'f0361acdacd7ca2b5b0130bb0cac46608946e855c5290193bef35286a33fb2c8',
  },
  'cjs/src/index.js': {
    pristine: 'd8fea1a5311c47e65004646bc81f57305ac64d48f99004a5b3ca27bcfc6babf8',
    patched: 'd69f4425c1dbf8c35e4033229156cbcdad12bea4dab51cd6d4461f9b6ca5ee42',
  },
};

export const HOW_TO_APPLY =
  'run `npx authgate patch-postgres`, or allow authgate\'s install script ("allowScripts": { "authgate": true } in package.json) and reinstall';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

function read(path) {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** The folder of the postgres.js that authgate resolves (its exports hide package.json). */
function postgresRoot() {
  let dir;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('postgres'));
  } catch {
    return null;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = read(join(dir, 'package.json'));
    if (pkg && JSON.parse(pkg.toString('utf8')).name === 'postgres') return dir;
  }
  return null;
}

/**
 * Where the postgres.js that authgate imports is, its version, and the state of each file the
 * fix changes: 'patched', 'pristine' (upstream, fix not applied), 'unknown' or 'missing'.
 */
export function inspectPostgres() {
  const root = postgresRoot();
  if (!root) return { root: null, version: null, files: [] };
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version ?? null;
  const files = Object.entries(FILES).map(([file, sums]) => {
    const data = read(join(root, file));
    const sum = data && sha256(data);
    const state = !data ? 'missing' : sum === sums.patched ? 'patched' : sum === sums.pristine ? 'pristine' : 'unknown';
    return { file, state };
  });
  return { root, version, files };
}

/** One line saying why the fix is not in place and what to do, or null when it is in place. */
export function postgresFixProblem(found = inspectPostgres()) {
  if (!found.root) return 'postgres.js not found';
  if (found.version !== POSTGRES_VERSION)
    return `postgres.js at ${found.root} is ${found.version}; authgate's fix is for ${POSTGRES_VERSION}, the version authgate depends on: reinstall`;
  const off = found.files.filter((f) => f.state !== 'patched');
  if (off.length === 0) return null;
  const states = off.map((f) => `${f.file}: ${f.state}`).join(', ');
  return off.every((f) => f.state === 'pristine')
    ? `postgres.js at ${found.root} is not patched (${states}): ${HOW_TO_APPLY}`
    : `postgres.js at ${found.root} has unexpected content (${states}): reinstall it, then ${HOW_TO_APPLY}`;
}

/**
 * Writes the fixed files over pristine upstream ones; leaves alone files that are already
 * fixed, and everything when the version or a file's content is not what the fix was made
 * for. Idempotent. Returns what it did: 'patched' (already), 'applied', or 'skipped' with the
 * reason (printed as one warning line by `warn`).
 */
export function applyPostgresFix({ warn = (line) => console.warn(line) } = {}) {
  const found = inspectPostgres();
  const skip = (reason) => {
    warn(`authgate: postgres.js fix not applied: ${reason}`);
    return { result: 'skipped', reason, root: found.root };
  };
  if (!found.root || found.version !== POSTGRES_VERSION) return skip(postgresFixProblem(found));
  const unknown = found.files.filter((f) => f.state === 'unknown' || f.state === 'missing');
  if (unknown.length > 0)
    return skip(
      `unexpected content in ${unknown.map((f) => join(found.root, f.file)).join(', ')}: left alone (RELIABILITY.md)`,
    );
  const todo = found.files.filter((f) => f.state === 'pristine');
  if (todo.length === 0) return { result: 'patched', root: found.root };
  const fixed = todo.map(({ file }) => ({ file, data: read(join(VENDOR, file)) }));
  const damaged = fixed.find((f) => !f.data || sha256(f.data) !== FILES[f.file].patched);
  if (damaged) return skip(`authgate's copy of ${damaged.file} is damaged: reinstall authgate`);
  try {
    for (const { file, data } of fixed) {
      // Write beside, then rename: a reader never sees half a file.
      const target = join(found.root, file);
      const tmp = `${target}.authgate-${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, target);
    }
  } catch (err) {
    return skip(`cannot write into ${found.root}: ${err.message}`);
  }
  return { result: 'applied', root: found.root, files: todo.map((f) => f.file) };
}
