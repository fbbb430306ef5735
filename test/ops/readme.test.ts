import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, REASONS } from '../../src/auth/errors.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('names every error code and every reason the gateway can answer with', () => {
    const missing = [...ERROR_CODES, ...REASONS].filter((name) => !README.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
