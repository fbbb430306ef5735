import { execFileSync } from 'node:child_process';
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

/**
 * With EXPECT_NODE_MAJOR (set by .ci/node24), a run on another Node fails at once: both this
 * process and the `node` on PATH, which runs what the tests start, must be that major.
 */
function checkNodeMajor(): void {
  const expected = process.env.EXPECT_NODE_MAJOR;
  if (!expected) return;
  const onPath = execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim();
  for (const [who, version] of [
    ['vitest', process.version],
    ['node on PATH', onPath],
  ] as const) {
    if (version.split('.')[0] !== `v${expected}`) {
      throw new Error(`EXPECT_NODE_MAJOR=${expected}, but ${who} is Node ${version}`);
    }
  }
}

/** A real Postgres for the whole run: TEST_DATABASE_URL, or an embedded one in a temp dir. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  checkNodeMajor();
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
