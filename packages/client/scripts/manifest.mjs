// Writes persisted-documents.json: the client's own operations under their ids, in the format
// codegen's persistedDocuments writes, for a gateway's TRUSTED_DOCUMENTS.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { DOCUMENTS } from '../dist/documents.js';

const manifest = Object.fromEntries(
  Object.values(DOCUMENTS).map((text) => [`sha256:${createHash('sha256').update(text).digest('hex')}`, text]),
);
writeFileSync(new URL('../persisted-documents.json', import.meta.url), `${JSON.stringify(manifest, null, 2)}\n`);
