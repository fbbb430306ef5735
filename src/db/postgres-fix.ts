import { postgresFixProblem } from '../../bin/postgres-fix.mjs';

let checked = false;

/**
 * Warns (once per process) when the postgres.js authgate runs on lacks authgate's fix
 * (RELIABILITY.md): without it, Postgres going away under a reserved connection can crash the
 * process. Install scripts npm skipped are the usual cause. Returns whether the fix is in place.
 */
export function warnIfPostgresUnpatched(warn: (line: string) => void): boolean {
  const problem = postgresFixProblem();
  if (problem && !checked) warn(`authgate: postgres.js fix missing (RELIABILITY.md): ${problem}`);
  checked = true;
  return problem === null;
}
