import type { LoadedApp } from './app-loader.js';
import { loadConfig } from './config.js';
import { type EmbeddedDb, embeddedSocketDir, startEmbedded } from './db/embedded.js';
import type { MailCatcher } from './mail/catcher.js';
import { createGateway } from './server.js';

/**
 * `npm start`, `npx authgate start` and `npx authgate dev`: the embedded Postgres when there
 * is no DATABASE_URL (and a mail catcher without SMTP_URL outside production), the gateway
 * with the app's types and migrations, and a drain on SIGTERM, SIGINT or SIGHUP.
 */
export async function runServer(app: LoadedApp, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadConfig(env);
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
  const gateway = await createGateway(config, adminUrl, { app });
  const port = await gateway.listen(config.port, config.host);
  console.log(`authgate: listening on http://localhost:${port}/graphql`);

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
}
