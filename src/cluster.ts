import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * WORKERS > 1: one primary process that owns what is started once (the embedded Postgres,
 * the mail catcher) and forks that many gateway workers sharing one port (node:cluster hands
 * each new connection to a worker in turn). Every worker is a whole gateway: state that must
 * be shared (sessions, limits, keys, revocation) lives in Postgres already, and the token
 * cache of each is only a cache. /metrics answers for all workers together.
 */
export type Primary = {
  /** The port, once every worker listens; rejects with the first worker's start failure. */
  ready: Promise<number>;
  /** SIGTERM to every worker, then waits for them (a worker drains as a lone gateway does). */
  stop: () => Promise<void>;
};

const RESTART_DELAY_MS = 500;

export function startWorkers(
  count: number,
  env: Record<string, string>,
  log: { info: (line: string) => void; error: (line: string) => void },
  /** A replacement worker failed to start: every worker would fail alike, so stop. */
  onFatal: (err: Error) => void,
): Primary {
  const metrics = new AggregatorRegistry();
  let stopping = false;
  let listening = 0;
  let started = false;
  let settle: { ok: (port: number) => void; fail: (err: Error) => void };
  const ready = new Promise<number>((ok, fail) => {
    settle = { ok, fail };
  });

  const fork = (): Worker => {
    const worker = cluster.fork({ ...env, AUTHGATE_WORKER: '1' });
    let up = false;
    worker.on('listening', (address) => {
      if (up) return;
      up = true;
      if (++listening === count && !started) {
        started = true;
        settle.ok(address.port);
      }
    });
    worker.on('message', (msg: unknown) => {
      if (!isMessage<{ id: number }>(msg, 'metrics?')) return;
      metrics.clusterMetrics().then(
        (text) => worker.send({ authgate: 'metrics', id: msg.id, text }),
        (err: unknown) => worker.send({ authgate: 'metrics', id: msg.id, error: (err as Error).message }),
      );
    });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (!up) {
        // Its own line said why (a port in use, a bad setting): every worker would fail alike.
        const err = new WorkerStartError(`a gateway worker failed to start (${how})`);
        if (started) onFatal(err);
        else settle.fail(err);
        return;
      }
      listening--;
      log.error(`authgate: worker ${worker.process.pid} exited (${how}), starting another`);
      setTimeout(() => {
        if (stopping) return;
        const next = fork();
        next.once('listening', () => log.info(`authgate: worker ${next.process.pid} took its place`));
      }, RESTART_DELAY_MS);
    });
    return worker;
  };
  for (let i = 0; i < count; i++) fork();

  return {
    ready,
    stop: async () => {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((done) => {
              if (w.isDead()) return done();
              w.once('exit', () => done());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/**
 * In a worker: the registry the primary collects from, and a /metrics body for the whole
 * gateway (asked of the primary over the IPC channel cluster already keeps open).
 */
export function workerMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one is what makes prom-client answer the primary's requests in a worker.
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, (answer: MetricsAnswer) => void>();
  process.on('message', (msg: unknown) => {
    if (!isMessage<MetricsAnswer>(msg, 'metrics')) return;
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  return () =>
    new Promise<string>((ok, fail) => {
      const id = next++;
      // The primary gives up on a silent worker after 5 s (prom-client); this is the backstop.
      const timer = setTimeout(() => {
        waiting.delete(id);
        fail(new Error('the primary did not answer for metrics'));
      }, 10_000);
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.error !== undefined) fail(new Error(answer.error));
        else ok(answer.text ?? '');
      });
      process.send?.({ authgate: 'metrics?', id });
    });
}

export const isWorker = (): boolean => cluster.isWorker;

/** A worker exited during its start; the primary stops everything and exits 1. */
export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
}

type MetricsAnswer = { id: number; text?: string; error?: string };

/** A message of ours over cluster's IPC channel (prom-client sends its own there too). */
function isMessage<T extends { id: number }>(msg: unknown, kind: string): msg is T {
  return typeof msg === 'object' && msg !== null && (msg as { authgate?: unknown }).authgate === kind;
}
