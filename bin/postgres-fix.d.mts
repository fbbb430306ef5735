// Types of bin/postgres-fix.mjs, for the TypeScript that imports it (src/db/postgres-fix.ts).
export declare const POSTGRES_VERSION: string;
export declare const HOW_TO_APPLY: string;
export type FileState = 'patched' | 'pristine' | 'unknown' | 'missing';
export type Found = { root: string | null; version: string | null; files: { file: string; state: FileState }[] };
export declare function inspectPostgres(): Found;
export declare function postgresFixProblem(found?: Found): string | null;
export declare function applyPostgresFix(options?: { warn?: (line: string) => void }):
  | { result: 'patched'; root: string }
  | { result: 'applied'; root: string; files: string[] }
  | { result: 'skipped'; reason: string; root: string | null };
