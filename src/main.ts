import { ConfigError, loadConfig } from './config.js';
import { type EmbeddedDb, startEmbedded } from './db/embedded.js';
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
