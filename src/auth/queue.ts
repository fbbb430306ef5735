import type { Logger } from '../log.js';

/** Work a request answers without (token writes and mails of "send me a link" requests). */
export type Queue = {
  /** Runs `job` on a later turn of the event loop; a failure is logged, never thrown. */
  later: (what: string, job: () => Promise<void>) => void;
  /** Resolves when every queued job has finished; for shutdown and tests. */
  idle: () => Promise<void>;
};

const START_AFTER_MS = 20;

export function createQueue(log: Logger): Queue {
  const queued = new Set<Promise<void>>();
  return {
    later(what, job) {
      // Started a little later, so the answer is on the wire before even the statement is
      // built: whether a job was queued must not show in the time the answer took.
      const run = new Promise<void>((resolve) => setTimeout(resolve, START_AFTER_MS))
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
