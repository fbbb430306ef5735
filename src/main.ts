import { loadApp } from './app-loader.js';
import { ConfigError } from './config.js';
import { runServer } from './run.js';

// `npm start` in this repository; an app's authgate.config.* in the working folder is read too.
try {
  await runServer(await loadApp());
} catch (err) {
  if (err instanceof ConfigError) console.error(`authgate: ${err.message}`);
  else console.error('authgate: failed to start:', err instanceof Error ? err.message : 'unknown error');
  process.exit(1);
}
