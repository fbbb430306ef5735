import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';
import { must, type Packed, ROOT } from '../ops/npm.js';

/**
 * `@authgate/client` as a frontend gets it: `npm pack` of the workspace, installed from the
 * tarball into an empty project (no registry needed: the package has no dependencies, and its
 * peers are optional), imported and type-checked there, and run against a live gateway.
 */

const PKG = join(ROOT, 'packages/client');
let work: string;
let app: string;
let packed: Packed;
let t: TestGateway;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'authgate-client-pack-'));
  await chmod(work, 0o755);
  app = join(work, 'app');
  await mkdir(join(work, 'out'));
  await mkdir(app);
  const pack = await must(
    'npm',
    ['pack', '--json', '-w', '@authgate/client', '--pack-destination', join(work, 'out')],
    ROOT,
  );
  packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Packed[])[0]!;
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'frontend', private: true, type: 'module' }, null, 2),
  );
  await must('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, 'out', packed.filename)], app);
  t = await startGateway();
}, 180_000);

afterAll(async () => {
  await t?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the @authgate/client package', () => {
  it('packs its build, declarations, the manifest of its documents and its README; no sources', () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    for (const entry of ['urql', 'apollo', 'react']) expect(paths).toContain(`dist/${entry}.js`);
    expect(paths).toContain('persisted-documents.json');
    expect(paths).toContain('README.md');
    expect(paths.filter((p) => p.startsWith('src/') || (p.endsWith('.ts') && !p.endsWith('.d.ts')))).toEqual([]);
  });

  it('imports no server code and no package but its optional peers', async () => {
    const imports = new Set<string>();
    for (const f of packed.files.filter((f) => f.path.endsWith('.js'))) {
      const text = await readFile(join(app, 'node_modules/@authgate/client', f.path), 'utf8');
      for (const m of text.matchAll(/\bfrom\s+'([^']+)'/g)) if (!m[1]!.startsWith('./')) imports.add(m[1]!);
    }
    expect([...imports].sort()).toEqual(['@apollo/client/link/http', '@urql/core', 'react']);
  });

  it('runs from the tarball in a project of its own: signs up, keeps the session, signs out', async () => {
    const script = `
      import { createAuthClient, memoryStorage, AuthgateError } from '@authgate/client';
      const storage = memoryStorage();
      const auth = createAuthClient({ url: process.argv[2], storage });
      const events = [];
      auth.onAuthStateChange((e) => events.push(e));
      const session = await auth.signUp({ email: process.argv[3], password: process.argv[4] });
      const { me } = await auth.request('query { me { email } }');
      const reread = await createAuthClient({ url: process.argv[2], storage }).getSession();
      const bad = await auth.signIn({ email: process.argv[3], password: 'not the password' }).catch((e) => e);
      const out = await auth.signOut();
      console.log(JSON.stringify({ email: me.email, same: reread.accessToken === session.accessToken,
        code: bad instanceof AuthgateError ? bad.code : null, out, events, after: auth.session }));`;
    await writeFile(join(app, 'run.mjs'), script);
    const mail = email('packed-client');
    const { stdout } = await must('node', ['run.mjs', t.url, mail, PASSWORD], app);
    expect(JSON.parse(stdout)).toEqual({
      email: mail,
      same: true,
      code: 'INVALID_CREDENTIALS',
      out: true,
      events: ['INITIAL_SESSION', 'SIGNED_IN', 'SIGNED_OUT'],
      after: null,
    });
  });

  it('type-checks a consumer module against the packed declarations', async () => {
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM'],
          strict: true,
          noEmit: true,
          types: [],
        },
        files: ['app.ts'],
      }),
    );
    await writeFile(
      join(app, 'app.ts'),
      `import { createAuthClient, errorCode, type Session } from '@authgate/client';
       type Doc<R, V> = { readonly __apiType?: (variables: V) => R };
       declare const MeDocument: Doc<{ me: { id: string } | null }, Record<string, never>>;
       declare const UpdateDocument: Doc<{ updateProfile: { id: string } }, { input: { fullName: string } }>;
       const auth = createAuthClient({ url: '/graphql' });
       const session: Session | null = auth.session;
       const { me } = await auth.request(MeDocument);
       const id: string | undefined = me?.id;
       await auth.request(UpdateDocument, { input: { fullName: 'Ada' } });
       // @ts-expect-error: the variables are required
       await auth.request(UpdateDocument);
       // @ts-expect-error: and typed
       await auth.request(UpdateDocument, { input: { fullName: 42 } });
       auth.onAuthStateChange((event) => { if (event === 'SIGNED_OUT') console.log(errorCode([]), session, id); });
       `,
    );
    const tsc = await must(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app).catch((e: Error) => e);
    expect(tsc instanceof Error ? tsc.message : '').toBe('');
  });

  it('is as small as the README says (minified and gzipped, the core entry)', async () => {
    const bundle = await build({
      entryPoints: [join(PKG, 'dist/index.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
    });
    const kb = gzipSync(bundle.outputFiles[0]!.contents, { level: 9 }).length / 1024;
    const readme = await readFile(join(PKG, 'README.md'), 'utf8');
    const stated = Number(/about ([\d.]+) KB minified and gzipped/.exec(readme)?.[1]);
    expect(Math.abs(stated - kb), `measured ${kb.toFixed(1)} KB, the README says ${stated}`).toBeLessThan(0.5);
  });
});
