import type { LoadedApp } from './app-loader.js';
import { isWorker, startWorkers } from './cluster.js';
import { loadConfig } from './config.js';
import { type EmbeddedDb, embeddedSocketDir, startEmbedded } from './db/embedded.js';
import { limitHeapGrowth } from './heap-growth.js';
import type { MailCatcher } from './mail/catcher.js';
import { createGateway } from './server.js';
import { sizeThreadPool } from './threadpool.js';

/**
 * `npm start`, `npx authgate start` and `npx authgate dev`: the embedded Postgres when there
 * is no DATABASE_URL (and a mail catcher without SMTP_URL outside production), the gateway
 * with the app's types and migrations, and a drain on SIGTERM, SIGINT or SIGHUP.
 */
export async function runServer(app: LoadedApp, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
  limitHeapGrowth(config.heapGrowthPercent);
  sizeThreadPool(config.argon2.maxConcurrent);
  let embedded: EmbeddedDb | undefined;
  let adminUrl = config.databaseUrl;
  if (!adminUrl) {
    const where =
      config.embeddedPgPort === undefined
        ? `Unix socket in ${embeddedSocketDir(config.dataDir)}`
        : `on 127.0.0.1:${config.embeddedPgPort}`;
    console.log(`authgate: no DATABASE_URL, starting embedded Postgres (data in ${config.dataDir}/pg, ${where})`);
    embedded = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
    adminUrl = embedded.url;
  }
  // Outside production, no SMTP_URL means a local catcher: the mails' links and codes are printed
  // here, so confirmation, recovery and magic links work on a fresh clone.
  let catcher: MailCatcher | undefined;
  if (!config.mail.smtpUrl && config.env !== 'production') {
    // Imported here: smtp-server and mailparser are a few hundred modules no deployment with
    // SMTP_URL (or in production) ever uses.
    const { mailSummary, startMailCatcher } = await import('./mail/catcher.js');
    catcher = await startMailCatcher({
      port: config.mail.catcherPort,
      maxMessages: 100,
      onMail: (mail) => console.log(`authgate: ${mailSummary(mail)}`),
    });
    config.mail.smtpUrl = catcher.url;
    console.log(`authgate: no SMTP_URL, mails go to a local catcher at ${catcher.url} and are printed here`);
  } else if (!config.mail.smtpUrl) {
    console.warn('authgate: no SMTP_URL: confirmation, recovery and magic-link mails will not be sent');
  }
  if (app.configFile) console.log(`authgate: app config ${app.configFile}`);
  if (config.workers > 1 && !isWorker()) {
    return runPrimary(
      config.workers,
      { DATABASE_URL: adminUrl, ...(catcher ? { SMTP_URL: catcher.url } : {}) },
      async () => {
        await catcher?.close();
        await embedded?.stop();
      },
    );
  }
  const gateway = await createGateway(config, adminUrl, { app });
  const port = await gateway.listen(config.port, config.host);
  if (isWorker()) console.log(`authgate: worker ${process.pid} listening`);
  else console.log(`authgate: listening on http://localhost:${port}/graphql`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`authgate: ${signal}, draining`);
    try {
      await gateway.close(config.env === 'production' ? 2000 : 200);
      await catcher?.close();
      await embedded?.stop();
      process.exit(0);
    } catch (err) {
      console.error('authgate: shutdown failed:', (err as Error).message);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // A worker whose primary is gone (killed outright) has no one to take its place when it fails.
  if (isWorker()) process.on('disconnect', () => void stop('primary gone'));
}

/**
 * WORKERS > 1: this process forks the gateways (src/cluster.ts) and keeps what it started
 * once; a signal drains the workers first, then stops those (`release`).
 */
async function runPrimary(count: number, env: Record<string, string>, release: () => Promise<void>): Promise<void> {
  let stopping = false;
  const primary = startWorkers(count, env, { info: console.log, error: console.error }, (err) => {
    console.error(`authgate: ${err.message}, stopping`);
    void stop('a worker failed', 1);
  });
  const stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    console.log(`authgate: ${signal}, draining ${count} workers`);
    await primary.stop();
    await release().catch(() => {});
    process.exit(code);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
  let port: number;
  try {
    port = await primary.ready;
  } catch (err) {
    // The worker printed its cause; the others would fail alike.
    await primary.stop();
    throw err;
  }
  console.log(`authgate: ${count} workers listening on http://localhost:${port}/graphql`);
}
