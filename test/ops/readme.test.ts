import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, REASONS } from '../../src/auth/errors.js';

const root = new URL('../../', import.meta.url);
// The README is the front page; the codes and reasons live in docs/ (reference.md, errors prose).
const DOCS = [
  readFileSync(new URL('README.md', root), 'utf8'),
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => readFileSync(new URL(`docs/${f}`, root), 'utf8')),
].join('\n');

describe('README and docs/', () => {
  it('name every error code and every reason the gateway can answer with', () => {
    const missing = [...ERROR_CODES, ...REASONS].filter((name) => !DOCS.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
