import { fileURLToPath } from 'node:url';
import { defineConfig } from 'authgate';
import app from '../authgate.config.ts';

// The app exactly as ../authgate.config.ts declares it, plus one module only the tests load:
// ./ctx-probe.ts, a field that reports what a resolver's ctx holds. The app itself ships no
// such field. Paths in a config are relative to its file, so the app's are made absolute.
const fromRoot = (path: string) => fileURLToPath(new URL(path, new URL('../', import.meta.url)));

export default defineConfig({
  ...app,
  graphql: [...(app.graphql ?? []).map(fromRoot), './ctx-probe.ts'],
  migrations: (app.migrations ?? []).map(fromRoot),
});
