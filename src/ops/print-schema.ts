import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { buildSchema } from '../graphql/index.js';

/** The SDL committed as schema.graphql; a test fails when the two differ. */
export const printedSchema = (): string => `${printSchema(buildSchema())}\n`;

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  writeFileSync(new URL('../../schema.graphql', import.meta.url), printedSchema());
  console.log('wrote schema.graphql');
}
