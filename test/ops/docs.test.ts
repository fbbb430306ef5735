import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, REASONS } from '../../src/auth/errors.js';
import { ENV_VARS } from '../../src/config.js';
import { generatedSections, REFERENCE_FILE, renderReference } from '../../src/ops/print-reference.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const DOC_FILES = [
  'README.md',
  'packages/client/README.md',
  'packages/client/docs/recipes.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown outside fenced code blocks: links and headings in code are examples, not docs. */
const prose = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const slug = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

describe('docs/reference.md', () => {
  it('holds what `npm run docs:reference` prints from schema.graphql and src/auth/errors.ts', () => {
    const current = readFileSync(REFERENCE_FILE, 'utf8');
    for (const name of Object.keys(generatedSections())) {
      expect(current, `docs/reference.md has no <!-- generated:${name} --> section`).toContain(
        `<!-- generated:${name} -->`,
      );
    }
    expect(current === renderReference(current), 'docs/reference.md is stale: run `npm run docs:reference`').toBe(true);
  });

  it('keeps the hand-written parts around the generated ones', () => {
    const current = read('docs/reference.md');
    for (const heading of ['## Errors', '## Token claims', '## HTTP', '## Environment variables']) {
      expect(current).toContain(`\n${heading}\n`);
    }
  });
});

describe('docs/configuration.md', () => {
  /** Names in the table's first column; `A` / `B` rows and `_SUFFIX` shorthands expanded. */
  function documented(): string[] {
    const names: string[] = [];
    for (const [, first] of read('docs/configuration.md').matchAll(/^\| *(`[A-Z][^|]*?) *\|/gm)) {
      let prefix = '';
      for (const [, name] of first!.matchAll(/`([A-Z_0-9]+)`/g)) {
        // `GRAPHQL_MAX_DEPTH` / `_ALIASES`: a leading underscore continues the first name's prefix.
        if (name!.startsWith('_')) names.push(prefix + name!.slice(1));
        else {
          names.push(name!);
          prefix = name!.slice(0, name!.lastIndexOf('_') + 1);
        }
      }
    }
    return names;
  }

  it('lists every variable the configuration reads, and none it does not', () => {
    const listed = documented();
    expect(
      ENV_VARS.filter((v) => !listed.includes(v)),
      'read by src/config.ts, missing from the table',
    ).toEqual([]);
    expect(
      listed.filter((v) => !ENV_VARS.includes(v)),
      'in the table, not read by src/config.ts',
    ).toEqual([]);
    expect(
      listed.filter((v, i) => listed.indexOf(v) !== i),
      'listed twice',
    ).toEqual([]);
  });
});

describe('README.md and docs/', () => {
  const all = DOC_FILES.map(read).join('\n');

  it('name every error code and reason', () => {
    const missing = [...ERROR_CODES, ...REASONS].filter((name) => !all.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });

  it('link only to files of the repository that exist, and to headings that exist', () => {
    const broken: string[] = [];
    for (const file of DOC_FILES) {
      const text = read(file);
      for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const url = path ? new URL(path, new URL(file, root)) : new URL(file, root);
        const abs = fileURLToPath(url);
        if (!abs.startsWith(fileURLToPath(root)) || !existsSync(abs)) {
          broken.push(`${file}: ${target} (no such file in the repository)`);
          continue;
        }
        if (
          anchor &&
          abs.endsWith('.md') &&
          statSync(abs).isFile() &&
          !anchors(readFileSync(abs, 'utf8')).has(anchor)
        ) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('name no path beside the repository (../shared/ and the like are not shipped with it)', () => {
    expect(DOC_FILES.filter((f) => read(f).includes('../shared/'))).toEqual([]);
  });
});
