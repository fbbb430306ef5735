import { existsSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, packIntoTemp, type Ran, ROOT, registryReachable, run } from './npm.js';

/**
 * examples/notes as a user of the package has it: authgate packed, the example copied to a
 * temporary folder outside the repository, its `authgate` dependency pointed at the tarball,
 * installed from the registry, then its own `npm run typecheck` (schema printed by the
 * installed CLI, client typed by graphql-codegen) and `npm test` (its tests on
 * `authgate/testing`, a real gateway and an embedded Postgres of its own). Nothing of the
 * repository's node_modules or sources is reachable from there.
 * About two minutes with a warm npm cache, bounded by each step's timeout.
 */

const EXAMPLE = join(ROOT, 'examples/notes');
const INSTALL_MS = 300_000;
const TEST_MS = 240_000;

const registryUp = await registryReachable('example-notes.test.ts');

describe.skipIf(!registryUp)('examples/notes on the packed authgate', () => {
  let work: string;
  let app: string;
  let tarball: string;
  let typecheck: Ran;
  let tests: Ran;

  beforeAll(
    async () => {
      ({ work, tarball } = await packIntoTemp('authgate-example-'));
      app = join(work, 'notes');
      // What a fresh clone of the example has: no install, no generated files, no database.
      const generated = new Set(['node_modules', '.data', 'package-lock.json', 'schema.graphql']);
      await cp(EXAMPLE, app, {
        recursive: true,
        filter: (src) => {
          const rel = relative(EXAMPLE, src);
          return !generated.has(rel.split('/')[0]!) && !rel.startsWith('src/client/gql');
        },
      });
      const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
        allowScripts: Record<string, boolean>;
      };
      pkg.dependencies.authgate = `file:${tarball}`;
      // npm matches a tarball's install script by its file: address, not by the name.
      pkg.allowScripts[`file:${tarball}`] = true;
      await writeFile(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
      await must('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts'], app, INSTALL_MS);
      typecheck = await run('npm', ['run', 'typecheck'], app, TEST_MS);
      tests = await run('npm', ['test'], app, TEST_MS);
    },
    INSTALL_MS + 2 * TEST_MS + 120_000,
  );

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('installs authgate from the tarball, compiled, with its install script run', async () => {
    expect(app.startsWith(ROOT)).toBe(false);
    const installed = JSON.parse(await readFile(join(app, 'node_modules/authgate/package.json'), 'utf8'));
    expect(installed.name).toBe('authgate');
    expect(existsSync(join(app, 'node_modules/authgate/dist/graphql/public.d.ts'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/authgate/src'))).toBe(false);
  });

  it("type-checks: the app's fields on authgate's builder and the codegen'd client", () => {
    expect(typecheck.code, typecheck.stdout + typecheck.stderr).toBe(0);
    expect(typecheck.stdout).toContain('wrote schema.graphql');
  });

  it("passes the example's own tests, through authgate/testing", async () => {
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    // vitest's summary: every test ran and passed (none skipped, none filtered out).
    const summary = stripVTControlCharacters(tests.stdout);
    const passed = Number(/Tests\s+(\d+) passed \((\d+)\)/.exec(summary)?.[1] ?? 0);
    const total = Number(/Tests\s+\d+ passed \((\d+)\)/.exec(summary)?.[1] ?? -1);
    expect(passed).toBeGreaterThanOrEqual(13);
    expect(passed).toBe(total);
    // The schema the example's client was typed against has its types beside ours.
    const sdl = await readFile(join(app, 'schema.graphql'), 'utf8');
    expect(sdl).toContain('type Note {');
    expect(sdl).toMatch(/type Profile \{[^}]*notes\(first: Int = 5\): \[Note!\]!/);
    expect(sdl).toContain('signIn(');
  });
});
