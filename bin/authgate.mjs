#!/usr/bin/env node
// `npx authgate …`: the operator CLI, run from the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/ops/cli.ts');
