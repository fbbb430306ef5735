// The server API of the authgate package (`import … from 'authgate'`).
export { type AppConfig, defineConfig } from './app-config.js';
export { type Config, ConfigError, loadConfig } from './config.js';
export { createGateway, type Gateway } from './server.js';
