import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbedded } from '../src/db/embedded.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

/** A real Postgres for the whole run: TEST_DATABASE_URL, or an embedded one in a temp dir. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide('adminUrl', external);
    return async () => {};
  }
  const dir = await mkdtemp(join(tmpdir(), 'authgate-test-'));
  const db = await startEmbedded({ dataDir: dir, port: await freePort(), persistent: false });
  project.provide('adminUrl', db.url);
  return async () => {
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
