import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresFixProblem } from '../../bin/postgres-fix.mjs';
import { warnIfPostgresUnpatched } from '../../src/db/postgres-fix.js';

/**
 * bin/patch-postgres.mjs writes authgate's fixed postgres.js files over upstream's 3.4.9 files
 * and over nothing else. Upstream's files are made here by reversing vendor/…/fix.diff.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VENDOR = join(ROOT, 'vendor/postgres-3.4.9');
const FIXED = ['src/connection.js', 'src/index.js', 'cjs/src/connection.js', 'cjs/src/index.js'];
const dirs: string[] = [];

/** A package folder with authgate's bin/ and vendor/, and an unfixed postgres.js 3.4.9 beside it. */
function project(): { dir: string; pg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'authgate-pgfix-'));
  dirs.push(dir);
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(VENDOR, join(dir, 'vendor/postgres-3.4.9'), { recursive: true });
  const pg = join(dir, 'node_modules/postgres');
  for (const f of FIXED) {
    mkdirSync(join(pg, f, '..'), { recursive: true });
    cpSync(join(VENDOR, f), join(pg, f));
  }
  writeFileSync(
    join(pg, 'package.json'),
    JSON.stringify({ name: 'postgres', version: '3.4.9', main: 'cjs/src/index.js' }),
  );
  execFileSync('git', ['apply', '--reverse', join(VENDOR, 'fix.diff')], { cwd: pg });
  return { dir, pg };
}

const patchedIn = (pg: string) => FIXED.every((f) => readFileSync(join(pg, f)).equals(readFileSync(join(VENDOR, f))));
/** stdout of bin/patch-postgres.mjs, or stdout and stderr together. */
const run = (dir: string) =>
  execFileSync('node', [join(dir, 'bin/patch-postgres.mjs')], { cwd: dir, encoding: 'utf8' });
const runBoth = (dir: string) =>
  execFileSync('sh', ['-c', `node ${join(dir, 'bin/patch-postgres.mjs')} 2>&1`], { cwd: dir, encoding: 'utf8' });

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the postgres.js fix', () => {
  it('is in place in this checkout (postinstall), and the start-up check stays quiet', () => {
    expect(postgresFixProblem()).toBeNull();
    const lines: string[] = [];
    expect(warnIfPostgresUnpatched((l) => lines.push(l))).toBe(true);
    expect(lines).toEqual([]);
  });

  it('is written over upstream 3.4.9 files, once', () => {
    const { dir, pg } = project();
    expect(patchedIn(pg)).toBe(false);
    expect(run(dir)).toBe(`authgate: postgres.js fix applied in ${pg}\n`);
    expect(patchedIn(pg)).toBe(true);
    expect(runBoth(dir)).toBe('');
  });

  it('leaves files it does not know alone, with one warning line', () => {
    const { dir, pg } = project();
    writeFileSync(join(pg, 'src/index.js'), `${readFileSync(join(pg, 'src/index.js'), 'utf8')}// local change\n`);
    const before = FIXED.map((f) => readFileSync(join(pg, f), 'utf8'));
    const out = runBoth(dir);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toContain(`authgate: postgres.js fix not applied: unexpected content in ${join(pg, 'src/index.js')}`);
    expect(FIXED.map((f) => readFileSync(join(pg, f), 'utf8'))).toEqual(before);
  });

  it('leaves another version alone, with one warning line', () => {
    const { dir, pg } = project();
    writeFileSync(
      join(pg, 'package.json'),
      JSON.stringify({ name: 'postgres', version: '3.4.8', main: 'cjs/src/index.js' }),
    );
    const out = runBoth(dir);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toContain('is 3.4.8');
    expect(patchedIn(pg)).toBe(false);
  });
});
