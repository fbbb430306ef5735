import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/ point one way, and no module imports itself through others. Type-only
 * imports count too: a loop of types is a loop a reader has to untangle all the same.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/**
 * Which layers a layer may import from, besides itself and `shared` (src/shared/, and the
 * configuration, logger and app-config types every layer is handed). The modules at the top
 * of src/ (main, server, run, the app loader, the package's index) wire everything and are
 * not checked; only the entry layers, ops (the CLI) and testing (the package's test
 * helpers), may import them. graphql may name the request context's type.
 */
const MAY_IMPORT: Record<string, string[]> = {
  shared: [],
  db: [],
  mail: ['db'],
  http: [],
  auth: ['db', 'mail'],
  context: ['auth', 'db', 'mail'],
  graphql: ['auth', 'db', 'context'],
  ops: ['auth', 'db', 'graphql', 'mail', 'context', 'top'],
  testing: ['auth', 'db', 'graphql', 'mail', 'context', 'top'],
};
const SHARED_FILES = new Set(['config.ts', 'log.ts', 'metrics.ts', 'app-config.ts']);
/**
 * Modules outside src/ that src/ may import: plain JavaScript using only node: built-ins,
 * shipped in the package beside dist/ (the postgres.js fix, which `postinstall` runs too,
 * before anything is built).
 */
const OUTSIDE_SRC = new Set([join(ROOT, 'bin/postgres-fix.mjs')]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports (static and dynamic) and re-exports of a module, resolved to files under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...[...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]/gm)].map((m) => m[1]!),
    // Modules loaded on first use (`await import('./…')`) follow the same rules.
    ...[...text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
  ];
  return specs
    .map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')))
    .filter((d) => !(OUTSIDE_SRC.has(d) && existsSync(d)));
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(SRC, f);
function layer(f: string): string {
  const r = rel(f);
  if (r.includes('/')) return r.split('/')[0]!;
  if (SHARED_FILES.has(r)) return 'shared';
  return r === 'context.ts' ? 'context' : 'top';
}

/** Strongly connected components with more than one module (or a self-import): the cycles. */
function cycles(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(rel(w));
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return found;
}

describe('the import graph of src/', () => {
  it('resolves every relative import to a module that exists', () => {
    const missing = [...graph].flatMap(([f, deps]) =>
      deps.filter((d) => !graph.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`),
    );
    expect(missing).toEqual([]);
  });

  it('has no cycles', () => {
    expect(cycles()).toEqual([]);
  });

  it('points one way: db, mail and shared import no layer above them; auth never imports graphql', () => {
    const wrong = [...graph].flatMap(([f, deps]) => {
      const from = layer(f);
      const allowed = MAY_IMPORT[from];
      if (!allowed) return [];
      return deps
        .filter((d) => {
          const to = layer(d);
          return to !== from && to !== 'shared' && !allowed.includes(to);
        })
        .map((d) => `${rel(f)} -> ${rel(d)}`);
    });
    expect(wrong).toEqual([]);
  });
});
