import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppConfig } from './app-config.js';
import { ConfigError } from './config.js';

/** An app's config, its GraphQL modules already imported, its migration folders resolved. */
export type LoadedApp = {
  /** The config file read, or null when the folder has none (authgate alone). */
  configFile: string | null;
  config: AppConfig;
  /** Absolute drizzle-kit output folders, applied in this order after authgate's own. */
  migrations: string[];
};

export const CONFIG_FILES = ['authgate.config.ts', 'authgate.config.mts', 'authgate.config.js', 'authgate.config.mjs'];

/** authgate alone: no app types, no app migrations. */
export const NO_APP: LoadedApp = { configFile: null, config: {}, migrations: [] };

/**
 * Reads the app's `authgate.config.*` (the file given, or AUTHGATE_CONFIG, or the one in
 * `cwd`), then imports the
 * modules it names so their types and fields are on the builder before the schema is built.
 * TypeScript files load through tsx, which authgate depends on, so an app needs no build
 * step to try things out.
 */
export async function loadApp(opts: { cwd?: string; configFile?: string } = {}): Promise<LoadedApp> {
  const cwd = opts.cwd ?? process.cwd();
  const given = opts.configFile ?? process.env.AUTHGATE_CONFIG;
  const file = given
    ? resolve(cwd, given)
    : (CONFIG_FILES.map((name) => join(cwd, name)).find((f) => existsSync(f)) ?? null);
  if (file === null) return NO_APP;
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  const mod = (await importModule(file)) as { default?: unknown };
  const config = checkAppConfig(mod.default, file);
  const dir = dirname(file);
  for (const module of config.graphql ?? []) {
    const path = resolve(dir, module);
    if (!existsSync(path)) throw new ConfigError(`${file}: graphql module ${module} does not exist`);
    await importModule(path);
  }
  const migrations = (config.migrations ?? []).map((folder) => {
    const path = resolve(dir, folder);
    if (!existsSync(join(path, 'meta', '_journal.json'))) {
      throw new ConfigError(
        `${file}: migrations folder ${folder} has no meta/_journal.json (run drizzle-kit generate)`,
      );
    }
    return path;
  });
  return { configFile: file, config, migrations };
}

function checkAppConfig(value: unknown, file: string): AppConfig {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(`${file} must export default defineConfig({ ... })`);
  }
  const c = value as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!['graphql', 'migrations', 'strictRls'].includes(key)) throw new ConfigError(`${file}: unknown key "${key}"`);
  }
  for (const key of ['graphql', 'migrations'] as const) {
    const list = c[key];
    if (list !== undefined && !(Array.isArray(list) && list.every((p) => typeof p === 'string' && p.length > 0))) {
      throw new ConfigError(`${file}: "${key}" is a list of paths`);
    }
  }
  if (c.strictRls !== undefined && typeof c.strictRls !== 'boolean') {
    throw new ConfigError(`${file}: "strictRls" is true or false`);
  }
  return c as AppConfig;
}

let tsLoader: Promise<void> | undefined;

/** Imports a module; a TypeScript one through tsx, registered once and only when needed. */
async function importModule(path: string): Promise<unknown> {
  const url = pathToFileURL(path).href;
  if (!/\.[mc]?ts$/.test(path)) return import(url);
  try {
    return await import(url);
  } catch (err) {
    // Node without type stripping: load tsx's hooks, then try again.
    if ((err as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    tsLoader ??= import('tsx/esm/api').then(({ register }) => {
      register();
    });
    await tsLoader;
    return import(`${url}?tsx`);
  }
}
