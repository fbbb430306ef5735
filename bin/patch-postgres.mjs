#!/usr/bin/env node
// `postinstall` (and `npx authgate patch-postgres`): applies authgate's fix to the postgres.js
// it resolves (bin/postgres-fix.mjs). Never fails an install: a fix it cannot apply is one
// warning line, and the gateway warns again at start-up.
import { applyPostgresFix } from './postgres-fix.mjs';

const done = applyPostgresFix();
if (done.result === 'applied') console.log(`authgate: postgres.js fix applied in ${done.root}`);
if (process.argv.includes('--verbose') && done.result === 'patched')
  console.log(`authgate: postgres.js fix already in place in ${done.root}`);
