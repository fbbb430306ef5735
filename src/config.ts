import { z } from 'zod';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .default(def ? 'true' : 'false')
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const optBool = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .optional()
    .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes', 'on'].includes(v)));

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(4000).pipe(z.number().max(65535)),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: int(54329).pipe(z.number().max(65535)),
  DB_POOL_MAX: int(10, 1),
  AUTH_DB_POOL_MAX: int(4, 1),
  DB_STATEMENT_TIMEOUT_MS: int(10_000, 100),
  DB_CONNECT_TIMEOUT_S: int(5, 1),
  DB_ACQUIRE_TIMEOUT_MS: int(5000, 50),
  DATABASE_POOL_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DB_PREPARE: bool(true),

  JWT_ALG: z.enum(['ES256', 'HS256']).default('ES256'),
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).default('authgate'),
  ACCESS_TOKEN_TTL_S: int(3600, 30),
  SIGNING_KEYS_RELOAD_S: int(60, 1),
  REFRESH_TOKEN_TTL_S: int(30 * 24 * 3600, 60),
  REFRESH_REUSE_INTERVAL_S: int(10, 0),
  SESSION_TIMEBOX_S: int(0, 0),
  SESSION_INACTIVITY_TIMEOUT_S: int(0, 0),
  SERVICE_ROLE_TOKEN_TTL_S: int(10 * 365 * 24 * 3600, 60),
  PG_SETTINGS_POSTGRAPHILE: bool(false),

  ARGON2_MEMORY_KIB: int(19_456, 1024),
  ARGON2_TIME_COST: int(2, 1),
  ARGON2_PARALLELISM: int(1, 1),
  ARGON2_MAX_CONCURRENT: int(2, 1),

  RATE_LIMIT_WINDOW_S: int(300, 1),
  RATE_LIMIT_SIGNUP_IP_MAX: int(30, 0),
  RATE_LIMIT_TOKEN_IP_MAX: int(150, 0),
  RATE_LIMIT_SIGNIN_EMAIL_MAX: int(10, 0),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9]{1,2})$/, 'TRUST_PROXY is true, false or a number of proxy hops')
    .default('false'),
  CORS_ORIGINS: z.string().optional(),
  MAX_BODY_BYTES: int(100 * 1024, 1024),
  GRAPHQL_INTROSPECTION: optBool(),
  GRAPHQL_MAX_DEPTH: int(8, 1),
  GRAPHQL_MAX_ALIASES: int(15, 1),
  GRAPHQL_MAX_TOKENS: int(2000, 10),
  GRAPHQL_MAX_DIRECTIVES: int(20, 1),
  GRAPHQL_MAX_COST: int(5000, 1),
  GRAPHIQL: optBool(),
  LOG_LEVEL: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('info'),
});

export type Config = {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  db: {
    poolMax: number;
    authPoolMax: number;
    statementTimeoutMs: number;
    connectTimeoutS: number;
    acquireTimeoutMs: number;
    /** Where the gateway's own connections go (a pooler); migrations always use DATABASE_URL. */
    poolUrl: string | undefined;
    pooler: boolean;
    prepare: boolean;
  };
  jwt: { alg: 'ES256' | 'HS256'; secret: string | undefined; issuer: string; accessTtlS: number; keysReloadS: number };
  refresh: { ttlS: number; reuseIntervalS: number };
  sessions: { timeboxS: number; inactivityTimeoutS: number };
  serviceRoleTokenTtlS: number;
  /** Also set PostGraphile's jwt.claims.<claim> settings beside request.jwt.claims. */
  postgraphileSettings: boolean;
  argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number };
  graphiql: boolean;
  introspection: boolean;
  rateLimits: { windowS: number; signUpIpMax: number; tokenIpMax: number; signInEmailMax: number };
  /** How many proxies in front of us append to X-Forwarded-For; 0 = use the socket address. */
  trustProxyHops: number;
  /** null: any origin (development); []: no cross-origin browser access. */
  corsOrigins: string[] | null;
  maxBodyBytes: number;
  limits: { depth: number; aliases: number; tokens: number; directives: number; cost: number };
  logLevel: 'silent' | 'error' | 'warn' | 'info' | 'debug';
};

/** Parses the environment once; a bad value ends start-up with a one-line message naming it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') ?? 'environment';
    // The message never echoes the value: it may be a secret.
    throw new ConfigError(`invalid ${name}: ${issue?.message ?? 'bad value'}`);
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    db: {
      poolMax: e.DB_POOL_MAX,
      authPoolMax: e.AUTH_DB_POOL_MAX,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      connectTimeoutS: e.DB_CONNECT_TIMEOUT_S,
      acquireTimeoutMs: e.DB_ACQUIRE_TIMEOUT_MS,
      poolUrl: e.DATABASE_POOL_URL,
      pooler: e.DATABASE_POOL_URL !== undefined,
      prepare: e.DB_PREPARE,
    },
    jwt: {
      alg: e.JWT_ALG,
      secret: e.JWT_SECRET,
      issuer: e.JWT_ISSUER,
      accessTtlS: e.ACCESS_TOKEN_TTL_S,
      keysReloadS: e.SIGNING_KEYS_RELOAD_S,
    },
    refresh: { ttlS: e.REFRESH_TOKEN_TTL_S, reuseIntervalS: e.REFRESH_REUSE_INTERVAL_S },
    sessions: { timeboxS: e.SESSION_TIMEBOX_S, inactivityTimeoutS: e.SESSION_INACTIVITY_TIMEOUT_S },
    serviceRoleTokenTtlS: e.SERVICE_ROLE_TOKEN_TTL_S,
    postgraphileSettings: e.PG_SETTINGS_POSTGRAPHILE,
    argon2: {
      memoryKiB: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      maxConcurrent: e.ARGON2_MAX_CONCURRENT,
    },
    // Production is closed by default: no GraphiQL, no introspection, unless asked for.
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    introspection: e.GRAPHQL_INTROSPECTION ?? e.NODE_ENV !== 'production',
    rateLimits: {
      windowS: e.RATE_LIMIT_WINDOW_S,
      signUpIpMax: e.RATE_LIMIT_SIGNUP_IP_MAX,
      tokenIpMax: e.RATE_LIMIT_TOKEN_IP_MAX,
      signInEmailMax: e.RATE_LIMIT_SIGNIN_EMAIL_MAX,
    },
    trustProxyHops: e.TRUST_PROXY === 'true' ? 1 : e.TRUST_PROXY === 'false' ? 0 : Number(e.TRUST_PROXY),
    corsOrigins:
      e.CORS_ORIGINS === undefined
        ? e.NODE_ENV === 'production'
          ? []
          : null
        : e.CORS_ORIGINS.split(',')
            .map((o) => o.trim())
            .filter((o) => o.length > 0),
    maxBodyBytes: e.MAX_BODY_BYTES,
    limits: {
      depth: e.GRAPHQL_MAX_DEPTH,
      aliases: e.GRAPHQL_MAX_ALIASES,
      tokens: e.GRAPHQL_MAX_TOKENS,
      directives: e.GRAPHQL_MAX_DIRECTIVES,
      cost: e.GRAPHQL_MAX_COST,
    },
    logLevel: e.LOG_LEVEL,
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}
