import { ConfigError, loadConfig } from './config.js';
import { type EmbeddedDb, startEmbedded } from './db/embedded.js';
import { linksIn, type MailCatcher, startMailCatcher } from './mail/catcher.js';
import { createGateway } from './server.js';

async function main(): Promise<void> {
  const config = loadConfig();
  let embedded: EmbeddedDb | undefined;
  let adminUrl = config.databaseUrl;
  if (!adminUrl) {
    console.log(`authgate: no DATABASE_URL, starting embedded Postgres (data in ${config.dataDir}/pg)`);
    embedded = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
    adminUrl = embedded.url;
  }
  // Outside production, no SMTP_URL means a local catcher: the mails' links are printed
  // here, so confirmation, recovery and magic links work on a fresh clone.
  let catcher: MailCatcher | undefined;
  if (!config.mail.smtpUrl && config.env !== 'production') {
    catcher = await startMailCatcher({
      port: config.mail.catcherPort,
      maxMessages: 100,
      onMail: (mail) =>
        console.log(`authgate: mail to ${mail.to.join(', ')}: ${mail.subject}\n  ${linksIn(mail).join('\n  ')}`),
    });
    config.mail.smtpUrl = catcher.url;
    console.log(`authgate: no SMTP_URL, mails go to a local catcher at ${catcher.url} and are printed here`);
  } else if (!config.mail.smtpUrl) {
    console.warn('authgate: no SMTP_URL: confirmation, recovery and magic-link mails will not be sent');
  }
  const gateway = await createGateway(config, adminUrl);
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

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(`authgate: ${err.message}`);
  else console.error('authgate: failed to start:', err instanceof Error ? err.message : 'unknown error');
  process.exit(1);
});
