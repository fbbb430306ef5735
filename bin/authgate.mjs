#!/usr/bin/env node
// `npx authgate …`: the operator CLI. An installed package runs the compiled dist/ops/cli.js.
// A checkout runs dist/ too once `npm run build` made it, unless a file under src/ changed
// since (then dist/ is stale); without a build, it runs the TypeScript sources through tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === 'patch-postgres') {
  await import('./patch-postgres.mjs');
} else {
  const dist = fileURLToPath(new URL('../dist/ops/cli.js', import.meta.url));
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  if (existsSync(dist) && !changedSince(src, statSync(dist).mtimeMs)) {
    await import('../dist/ops/cli.js');
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('../src/ops/cli.ts');
  }
}

/** Whether a file under `dir` (if it exists) was modified after `time`. */
function changedSince(dir, time) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true, recursive: true }).some(
    (e) => e.isFile() && statSync(`${e.parentPath ?? e.path}/${e.name}`).mtimeMs > time,
  );
}
