import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// npm as a user runs it, for the tests that pack authgate and install the tarball into a
// project outside the repository (package.test.ts, example-notes.test.ts).

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const STEP_MS = 120_000;

export type Ran = { code: number; stdout: string; stderr: string };

/** The environment of the npm run this test may be part of, without what ties npm to the repo. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !/^npm_config_(registry|cache|userconfig)$/i.test(k)) continue;
    if (k === 'INIT_CWD' || k === 'NODE_ENV' || k === 'DATABASE_URL' || k === 'TEST_DATABASE_URL') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], cwd: string, timeout = STEP_MS): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: childEnv(), timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function must(cmd: string, args: string[], cwd: string, timeout = STEP_MS): Promise<Ran> {
  const r = await run(cmd, args, cwd, timeout);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Whether the npm registry answers: without it nothing installs, and the caller skips visibly. */
export async function registryReachable(who: string): Promise<boolean> {
  const up = (await run('npm', ['ping', '--fetch-retries=0', '--fetch-timeout=10000'], ROOT, 15_000)).code === 0;
  if (!up) console.warn(`${who}: the npm registry is unreachable, the test is skipped`);
  return up;
}

export type Packed = { filename: string; files: { path: string }[]; size: number; entryCount: number };

/**
 * A work folder in the system's temporary directory (reachable by the user `postgres`, as
 * which the embedded Postgres runs its binaries) with this checkout packed into `out/`;
 * prepack rebuilds dist/ first.
 */
export async function packIntoTemp(prefix: string): Promise<{ work: string; tarball: string; packed: Packed }> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  await chmod(work, 0o755);
  await mkdir(join(work, 'out'));
  const pack = await must('npm', ['pack', '--json', '--pack-destination', join(work, 'out')], ROOT);
  const packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Packed[])[0]!;
  return { work, tarball: join(work, 'out', packed.filename), packed };
}
