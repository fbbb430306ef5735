// The server API of the authgate package (`import … from 'authgate'`).
export { type AppConfig, defineConfig } from './app-config.js';
// An app served from its own process: `createGateway(loadConfig(), url, { app: await loadApp() })`,
// or `runServer(await loadApp())` for all of `npx authgate start` (embedded Postgres, drain).
export { type LoadedApp, loadApp } from './app-loader.js';
export { type Config, ConfigError, loadConfig } from './config.js';
export { runServer } from './run.js';
export { createGateway, type Gateway } from './server.js';
