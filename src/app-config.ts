/**
 * What an app built on authgate tells it, in `authgate.config.ts` (or .js/.mjs) at its root:
 * the modules that add its GraphQL types and fields to authgate's builder, and the folders
 * of its drizzle-kit migrations, applied after authgate's own.
 */
export type AppConfig = {
  /** Modules (paths relative to the config file) that add types and fields to the builder. */
  graphql?: string[];
  /** drizzle-kit output folders (relative to the config file), applied in order after ours. */
  migrations?: string[];
  /**
   * Refuse to start while a table anon or authenticated can reach has no row level security
   * (the RLS doctor's error-level findings). Off: they are logged as warnings at start.
   */
  strictRls?: boolean;
};

/** Types the config file; returns it unchanged. */
export function defineConfig(config: AppConfig): AppConfig {
  return config;
}
