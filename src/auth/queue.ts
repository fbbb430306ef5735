import type { Logger } from '../log.js';

/** Work a request answers without (token writes and mails of "send me a link" requests). */
export type Queue = {
  /** Runs `job` on a later turn of the event loop; a failure is logged, never thrown. */
  later: (what: string, job: () => Promise<void>) => void;
  /** Resolves when every queued job has finished; for shutdown and tests. */
  idle: () => Promise<void>;
};

export function createQueue(log: Logger): Queue {
  const queued = new Set<Promise<void>>();
  return {
    later(what, job) {
      // A later turn, so not even building the statement is paid for before the answer.
      const run = new Promise<void>((resolve) => setImmediate(resolve))
        .then(job)
        .catch((err: unknown) => log.error({ err: (err as Error).message, what }, 'queued work failed'))
        .finally(() => queued.delete(run));
      queued.add(run);
    },
    idle: async () => {
      while (queued.size > 0) await Promise.all([...queued]);
    },
  };
}
