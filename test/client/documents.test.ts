import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DOCUMENTS } from '@authgate/client';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';

// The package carries its operations as text, with no dependency on the server: these checks
// are what keeps them in step with the gateway's schema.

const root = new URL('../../', import.meta.url);
const schema = buildSchema(readFileSync(new URL('schema.graphql', root), 'utf8'));

describe("the client's own operations", () => {
  it.each(Object.entries(DOCUMENTS))('%s is valid against schema.graphql', (_name, text) => {
    expect(validate(schema, parse(text)).map((e) => e.message)).toEqual([]);
  });

  it('persisted-documents.json lists exactly them, each under the SHA-256 of its text', () => {
    const manifest = JSON.parse(
      readFileSync(new URL('packages/client/persisted-documents.json', root), 'utf8'),
    ) as Record<string, string>;
    const expected = Object.fromEntries(
      Object.values(DOCUMENTS).map((text) => [`sha256:${createHash('sha256').update(text).digest('hex')}`, text]),
    );
    expect(manifest).toEqual(expected);
  });
});
