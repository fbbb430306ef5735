import { availableParallelism } from 'node:os';
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

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const providerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a name is 1-32 of a-z, 0-9, _ and -')
  .refine((n) => n !== 'email', '"email" is the password provider');
const httpUrl = z.url({ protocol: /^https?$/ });

/** An issuer whose access tokens the gateway accepts as bearer tokens (Clerk, Logto, Auth0…). */
const TrustedIssuerSchema = z.strictObject({
  /** The provider name in auth.identities and in the request's claims. */
  name: providerName,
  // "email" is the issuer of password and mailed-link identities.
  issuer: z
    .string()
    .min(1)
    .refine((i) => i !== 'email', '"email" is reserved'),
  /** Omitted: taken from the issuer's OpenID discovery document. */
  jwksUrl: httpUrl.optional(),
  audiences: z.array(z.string().min(1)).min(1),
  algorithms: z.array(z.enum(ALGORITHMS)).min(1).default(['RS256']),
  userIdClaim: z.string().min(1).default('sub'),
  emailClaim: z.string().min(1).default('email'),
  jwksTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  /** The least time between two JWKS fetches for an unknown kid. */
  jwksCooldownS: z.number().int().min(0).max(3600).default(30),
});

/** An OpenID Connect provider users can sign in with through the gateway. */
const OidcProviderSchema = z.strictObject({
  name: providerName,
  issuer: httpUrl,
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  scopes: z.string().min(1).default('openid email profile'),
  /** Link to an existing account with the same email when the provider says it is verified. */
  trustEmail: z.boolean().default(false),
  timeoutMs: z.number().int().min(100).max(60_000).default(5000),
});

const jsonList = <T extends z.ZodType>(item: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(z.array(item));

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(4000).pipe(z.number().max(65535)),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  DB_POOL_MAX: int(10, 1),
  WORKERS: z
    .string()
    .default('1')
    .transform((v, ctx) => {
      if (v === 'auto') return availableParallelism();
      const n = Number(v);
      if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
      ctx.addIssue({ code: 'custom', message: 'a number of processes from 1 to 64, or auto (one per core)' });
      return z.NEVER;
    }),
  AUTH_DB_POOL_MAX: int(4, 1),
  HEAP_GROWTH_PERCENT: int(50, 0).pipe(z.number().max(300)),
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
  // Cookie mode (docs/cookie-sessions.md): the refresh token in an HttpOnly cookie, never in a body.
  REFRESH_TOKEN_COOKIE: z.enum(['off', 'on']).default('off'),
  REFRESH_TOKEN_COOKIE_NAME: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, "a cookie name: 1-64 letters, digits and !#$%&'*+-.^_`|~")
    .optional(),
  REFRESH_TOKEN_COOKIE_PATH: z
    .string()
    .regex(/^\/[\x21-\x3a\x3c-\x7e]{0,255}$/, 'a path starting with /, without spaces or ;')
    .optional(),
  REFRESH_TOKEN_COOKIE_SAMESITE: z.enum(['lax', 'strict', 'none']).optional(),
  REFRESH_TOKEN_COOKIE_DOMAIN: z
    .string()
    .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/, 'a host name in lower case (no scheme, port, path or leading dot)')
    .max(253)
    .optional(),
  // The custom access-token hook (docs/tokens.md, "Custom claims: the access-token hook").
  ACCESS_TOKEN_HOOK: z
    .string()
    .regex(
      /^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/,
      'ACCESS_TOKEN_HOOK is schema.function, both plain lower-case identifiers',
    )
    .optional(),
  ACCESS_TOKEN_HOOK_ROLES: z.string().optional(),
  ACCESS_TOKEN_HOOK_TIMEOUT_MS: int(2000, 1),
  CAPTCHA_PROVIDER: z.enum(['turnstile', 'hcaptcha']).optional(),
  CAPTCHA_SECRET: z.string().min(1).optional(),
  CAPTCHA_VERIFY_URL: httpUrl.optional(),
  CAPTCHA_TIMEOUT_MS: int(5000, 100),
  PG_SETTINGS_POSTGRAPHILE: bool(false),

  // The key that seals private signing keys in the database, kept outside it (docs/operations.md, "Keys at rest").
  SECRETS_KEY: z.string().min(32, 'SECRETS_KEY must be at least 32 characters').optional(),
  SECRETS_KEY_PREVIOUS: z.string().min(32, 'SECRETS_KEY_PREVIOUS must be at least 32 characters').optional(),

  ARGON2_MEMORY_KIB: int(19_456, 1024),
  ARGON2_TIME_COST: int(2, 1),
  ARGON2_PARALLELISM: int(1, 1),
  ARGON2_MAX_CONCURRENT: int(2, 1),

  RATE_LIMIT_WINDOW_S: int(300, 1),
  RATE_LIMIT_SIGNUP_IP_MAX: int(30, 0),
  RATE_LIMIT_TOKEN_IP_MAX: int(150, 0),
  RATE_LIMIT_SIGNIN_EMAIL_MAX: int(10, 0),
  RATE_LIMIT_SIGNIN_EMAIL_CEILING: int(100, 0),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9]{1,2})$/, 'TRUST_PROXY is true, false or a number of proxy hops')
    .default('false'),
  CORS_ORIGINS: z.string().optional(),
  MAX_BODY_BYTES: int(100 * 1024, 1024),
  // HTTP hardening: who may scrape /metrics, and HSTS.
  METRICS_TOKEN: z.string().min(32, 'METRICS_TOKEN must be at least 32 characters').optional(),
  HSTS_MAX_AGE_S: int(0, 0),
  GRAPHQL_INTROSPECTION: optBool(),
  GRAPHQL_FAST_PATH: bool(true),
  GRAPHQL_MAX_DEPTH: int(8, 1),
  GRAPHQL_MAX_ALIASES: int(15, 1),
  GRAPHQL_MAX_TOKENS: int(2000, 10),
  GRAPHQL_MAX_DIRECTIVES: int(20, 1),
  GRAPHQL_MAX_COST: int(5000, 1),
  GRAPHIQL: optBool(),
  // Trusted documents (docs/trusted-documents.md): the manifests codegen's client preset writes.
  TRUSTED_DOCUMENTS: z.string().optional(),
  TRUSTED_DOCUMENTS_ONLY: bool(false),
  PUBLIC_URL: httpUrl.optional(),
  TRUSTED_ISSUERS: jsonList(TrustedIssuerSchema).default([]),
  OIDC_PROVIDERS: jsonList(OidcProviderSchema).default([]),
  OIDC_REDIRECT_URLS: z.string().optional(),
  OIDC_CODE_TTL_S: int(300, 10),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  MAIL_FROM: z.string().min(3).default('authgate <no-reply@localhost>'),
  MAIL_LINK_URL: httpUrl.optional(),
  SMTP_CATCHER_PORT: int(0).pipe(z.number().max(65535)),
  REQUIRE_EMAIL_CONFIRMATION: bool(false),
  EMAIL_TOKEN_TTL_S: int(3600, 60),
  EMAIL_OTP_MAX_ATTEMPTS: int(5, 1),
  RATE_LIMIT_EMAIL_MAX: int(5, 0),
  RATE_LIMIT_EMAIL_CEILING: int(20, 0),
  REAUTH_WINDOW_S: int(600, 0),
  SECURE_EMAIL_CHANGE: bool(true),
  MFA_ISSUER: z.string().min(1).max(64).default('authgate'),
  WEBAUTHN_RP_ID: z
    .string()
    .regex(/^[a-z0-9.-]{1,253}$/, 'a host name (no scheme, port or path)')
    .optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(64).optional(),
  WEBAUTHN_ORIGINS: z.string().optional(),
  ANONYMOUS_SIGN_IN: bool(false),
  ANONYMOUS_USER_MAX_AGE_S: int(30 * 24 * 3600, 60),
  ANONYMOUS_CLEANUP_INTERVAL_S: int(3600, 1),
  AUDIT_LOG_RETENTION_DAYS: int(90, 0),
  LOG_LEVEL: z.enum(['silent', 'error', 'warn', 'info', 'debug']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  // Read by loadApp (src/app-loader.ts) before the gateway's configuration; listed here so it
  // is documented and checked like the rest.
  AUTHGATE_CONFIG: z.string().optional(),
});

/** Every environment variable the configuration reads; docs/configuration.md is checked against it. */
export const ENV_VARS: readonly string[] = Object.keys(EnvSchema.shape);

export type Config = {
  env: 'development' | 'production' | 'test';
  host: string;
  /** Gateway processes behind the one port (node:cluster); 1 runs the gateway in this process. */
  workers: number;
  /** V8's old generation may grow to 1 + this/100 times its live size before the next full GC; 0: V8's own factor (src/heap-growth.ts). */
  heapGrowthPercent: number;
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  /** Unset: the embedded Postgres listens on a Unix socket only (db/embedded.ts). */
  embeddedPgPort: number | undefined;
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
  /** Unset key: the file DATA_DIR/secrets.key, created on first use. `previous` only opens (rotation). */
  secretsKey: { current: string | undefined; previous: string | undefined };
  refresh: { ttlS: number; reuseIntervalS: number };
  sessions: { timeboxS: number; inactivityTimeoutS: number };
  /**
   * Cookie mode: refresh tokens travel in this HttpOnly cookie and every body's refreshToken is
   * ""; null: off, the token is in the body. `maxAgeS`: how long a refresh token can live.
   */
  refreshTokenCookie: RefreshTokenCookieSettings | null;
  serviceRoleTokenTtlS: number;
  /**
   * The Postgres function `(event jsonb) returns jsonb` that may add claims to every access
   * token, run in the minting transaction; null: no hook. `roles`: what it may set `role` to
   * besides authenticated (verify accepts exactly these too).
   */
  accessTokenHook: { schema: string; name: string; roles: string[]; timeoutMs: number } | null;
  /**
   * CAPTCHA on the flows bots target (sign-up, sign-in, anonymous sign-in, mailed links and
   * codes): the provider's siteverify endpoint, called with the secret; null: off.
   */
  captcha: { provider: 'turnstile' | 'hcaptcha'; secret: string; verifyUrl: string; timeoutMs: number } | null;
  /** Also set PostGraphile's jwt.claims.<claim> settings beside request.jwt.claims. */
  postgraphileSettings: boolean;
  argon2: { memoryKiB: number; timeCost: number; parallelism: number; maxConcurrent: number };
  graphiql: boolean;
  introspection: boolean;
  /** Serve documents already validated (or trusted) beside yoga's HTTP pipeline (src/graphql/known-documents.ts). */
  fastPath: boolean;
  /**
   * The manifests (persisted-documents.json, hash → document) whose documents clients may send
   * by id; `only`: no other document runs. No files: ids are not read at all.
   */
  trustedDocuments: { files: string[]; only: boolean };
  rateLimits: {
    windowS: number;
    signUpIpMax: number;
    tokenIpMax: number;
    /** Per (address, client IP). */
    signInEmailMax: number;
    /** Per address, from all clients together. */
    signInEmailCeiling: number;
    emailMax: number;
    emailCeiling: number;
  };
  /**
   * How long after signing in a session may change the account's email or set a first
   * password without giving the current password again.
   */
  reauthWindowS: number;
  /** How many proxies in front of us append to X-Forwarded-For; 0 = use the socket address. */
  trustProxyHops: number;
  /** null: any origin (unset outside production, or `*`); []: no cross-origin browser access. */
  corsOrigins: string[] | null;
  maxBodyBytes: number;
  /** The bearer token /metrics requires; unset: open outside production, not served in production. */
  metricsToken: string | undefined;
  /** Strict-Transport-Security max-age in seconds; 0 sends no such header. */
  hstsMaxAgeS: number;
  limits: { depth: number; aliases: number; tokens: number; directives: number; cost: number };
  logLevel: 'silent' | 'error' | 'warn' | 'info' | 'debug';
  /** One line a person reads, or JSON for a log pipeline (see LOG_FORMAT). */
  logFormat: 'json' | 'pretty';
  /** Where browsers reach the gateway; provider callbacks are built on it. */
  publicUrl: string;
  trustedIssuers: TrustedIssuer[];
  oidc: {
    providers: OidcProvider[];
    /** Where a finished provider sign-in may send the browser (exact origin and path prefix). */
    redirectUrls: string[];
    codeTtlS: number;
  };
  mail: {
    /** Unset: mail goes to the local catcher (`npm start`) or nowhere. */
    smtpUrl: string | undefined;
    from: string;
    /** The app page links in mails point at; the token is added as ?token=…&type=…. */
    linkUrl: string;
    catcherPort: number;
    requireConfirmation: boolean;
    /** An email change needs the current address's approval too, not only the new one's proof. */
    secureEmailChange: boolean;
    tokenTtlS: number;
    otpMaxAttempts: number;
  };
  mfaIssuer: string;
  /** The WebAuthn relying party: passkeys are bound to rpId, and accepted only from these origins. */
  webauthn: { rpId: string; rpName: string; origins: string[] };
  anonymous: { enabled: boolean; maxAgeS: number; cleanupIntervalS: number };
  /** Audit rows older than this many days are deleted by the maintenance job; 0 keeps them. */
  auditLog: { retentionDays: number };
};

export type RefreshTokenCookieSettings = {
  name: string;
  path: string;
  sameSite: 'Lax' | 'Strict';
  /** null: host-only (no Domain attribute). */
  domain: string | null;
  maxAgeS: number;
};

export type TrustedIssuer = z.infer<typeof TrustedIssuerSchema>;
export type OidcProvider = z.infer<typeof OidcProviderSchema>;

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
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  // One name, one issuer: the name is what people and app_metadata see, so it must not
  // stand for two issuers across the two lists (identities are keyed by issuer anyway).
  const seen = new Set<string>();
  for (const [list, name] of [
    [e.TRUSTED_ISSUERS, 'TRUSTED_ISSUERS'],
    [e.OIDC_PROVIDERS, 'OIDC_PROVIDERS'],
  ] as const) {
    for (const p of list) {
      if (seen.has(p.name)) {
        throw new ConfigError(
          `invalid ${name}: the name "${p.name}" is used twice across TRUSTED_ISSUERS and OIDC_PROVIDERS`,
        );
      }
      seen.add(p.name);
    }
  }
  if (e.TRUSTED_ISSUERS.some((i) => i.issuer === e.JWT_ISSUER)) {
    throw new ConfigError("invalid TRUSTED_ISSUERS: an entry has the gateway's own JWT_ISSUER");
  }
  const redirectUrls = (e.OIDC_REDIRECT_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  for (const u of redirectUrls) {
    if (!httpUrl.safeParse(u).success)
      throw new ConfigError('invalid OIDC_REDIRECT_URLS: each entry is an http(s) URL');
  }
  const trustedFiles = (e.TRUSTED_DOCUMENTS ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f.length > 0);
  // Only-mode without a manifest would refuse every request, GraphiQL's included.
  if (e.TRUSTED_DOCUMENTS_ONLY && trustedFiles.length === 0) {
    throw new ConfigError('invalid TRUSTED_DOCUMENTS_ONLY: set TRUSTED_DOCUMENTS to the manifest(s) it runs');
  }
  if (e.TRUSTED_DOCUMENTS_ONLY && e.GRAPHIQL === true) {
    throw new ConfigError(
      'invalid GRAPHIQL: GraphiQL sends documents of its own, which TRUSTED_DOCUMENTS_ONLY refuses; unset one of them',
    );
  }
  // A previous key alone would make this instance re-seal every row with the key file of its
  // own disk, which no other instance has: a half-done rotation is refused instead.
  if (e.SECRETS_KEY_PREVIOUS !== undefined && e.SECRETS_KEY === undefined) {
    throw new ConfigError('invalid SECRETS_KEY_PREVIOUS: set SECRETS_KEY (the new key) beside it');
  }
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    workers: e.WORKERS,
    heapGrowthPercent: e.HEAP_GROWTH_PERCENT,
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
    secretsKey: { current: e.SECRETS_KEY, previous: e.SECRETS_KEY_PREVIOUS },
    refresh: { ttlS: e.REFRESH_TOKEN_TTL_S, reuseIntervalS: e.REFRESH_REUSE_INTERVAL_S },
    sessions: { timeboxS: e.SESSION_TIMEBOX_S, inactivityTimeoutS: e.SESSION_INACTIVITY_TIMEOUT_S },
    refreshTokenCookie: refreshTokenCookie(e),
    serviceRoleTokenTtlS: e.SERVICE_ROLE_TOKEN_TTL_S,
    accessTokenHook: accessTokenHook(e.ACCESS_TOKEN_HOOK, e.ACCESS_TOKEN_HOOK_ROLES, e.ACCESS_TOKEN_HOOK_TIMEOUT_MS),
    captcha: captcha(e.CAPTCHA_PROVIDER, e.CAPTCHA_SECRET, e.CAPTCHA_VERIFY_URL, e.CAPTCHA_TIMEOUT_MS),
    postgraphileSettings: e.PG_SETTINGS_POSTGRAPHILE,
    argon2: {
      memoryKiB: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      maxConcurrent: e.ARGON2_MAX_CONCURRENT,
    },
    // Production is closed by default: no GraphiQL, no introspection, unless asked for.
    // GraphiQL is off where only trusted documents run: it could run nothing but them.
    graphiql: e.GRAPHIQL ?? (e.NODE_ENV !== 'production' && !e.TRUSTED_DOCUMENTS_ONLY),
    introspection: e.GRAPHQL_INTROSPECTION ?? e.NODE_ENV !== 'production',
    fastPath: e.GRAPHQL_FAST_PATH,
    trustedDocuments: { files: trustedFiles, only: e.TRUSTED_DOCUMENTS_ONLY },
    rateLimits: {
      windowS: e.RATE_LIMIT_WINDOW_S,
      signUpIpMax: e.RATE_LIMIT_SIGNUP_IP_MAX,
      tokenIpMax: e.RATE_LIMIT_TOKEN_IP_MAX,
      signInEmailMax: e.RATE_LIMIT_SIGNIN_EMAIL_MAX,
      signInEmailCeiling: e.RATE_LIMIT_SIGNIN_EMAIL_CEILING,
      emailMax: e.RATE_LIMIT_EMAIL_MAX,
      emailCeiling: e.RATE_LIMIT_EMAIL_CEILING,
    },
    reauthWindowS: e.REAUTH_WINDOW_S,
    trustProxyHops: e.TRUST_PROXY === 'true' ? 1 : e.TRUST_PROXY === 'false' ? 0 : Number(e.TRUST_PROXY),
    corsOrigins: corsOrigins(env.CORS_ORIGINS, e.NODE_ENV),
    maxBodyBytes: e.MAX_BODY_BYTES,
    metricsToken: e.METRICS_TOKEN,
    hstsMaxAgeS: e.HSTS_MAX_AGE_S,
    limits: {
      depth: e.GRAPHQL_MAX_DEPTH,
      aliases: e.GRAPHQL_MAX_ALIASES,
      tokens: e.GRAPHQL_MAX_TOKENS,
      directives: e.GRAPHQL_MAX_DIRECTIVES,
      cost: e.GRAPHQL_MAX_COST,
    },
    logLevel: e.LOG_LEVEL,
    // A person at a terminal reads lines; a process manager or container collects JSON.
    logFormat: e.LOG_FORMAT ?? (process.stdout.isTTY && e.NODE_ENV !== 'production' ? 'pretty' : 'json'),
    publicUrl,
    trustedIssuers: e.TRUSTED_ISSUERS,
    oidc: {
      providers: e.OIDC_PROVIDERS,
      // Unset: the gateway's own origin, where GraphiQL runs.
      redirectUrls: redirectUrls.length > 0 ? redirectUrls : [`${publicUrl}/`],
      codeTtlS: e.OIDC_CODE_TTL_S,
    },
    mail: {
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM,
      linkUrl: e.MAIL_LINK_URL ?? `${publicUrl}/`,
      catcherPort: e.SMTP_CATCHER_PORT,
      requireConfirmation: e.REQUIRE_EMAIL_CONFIRMATION,
      secureEmailChange: e.SECURE_EMAIL_CHANGE,
      tokenTtlS: e.EMAIL_TOKEN_TTL_S,
      otpMaxAttempts: e.EMAIL_OTP_MAX_ATTEMPTS,
    },
    mfaIssuer: e.MFA_ISSUER,
    webauthn: webauthnConfig(e, publicUrl),
    anonymous: {
      enabled: e.ANONYMOUS_SIGN_IN,
      maxAgeS: e.ANONYMOUS_USER_MAX_AGE_S,
      cleanupIntervalS: e.ANONYMOUS_CLEANUP_INTERVAL_S,
    },
    auditLog: { retentionDays: e.AUDIT_LOG_RETENTION_DAYS },
  };
}

/** Roles a hook may never hand out: they bypass RLS or are the gateway's own. */
const RESERVED_ROLE = /^(service_role|anon|authenticated|authgate_.*|pg_.*|postgres)$/;

/** ACCESS_TOKEN_HOOK and its allow-list of roles; the roles need a hook to mean anything. */
function accessTokenHook(
  hook: string | undefined,
  roles: string | undefined,
  timeoutMs: number,
): Config['accessTokenHook'] {
  const allowed = (roles ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  for (const r of allowed) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(r) || RESERVED_ROLE.test(r)) {
      throw new ConfigError(
        'invalid ACCESS_TOKEN_HOOK_ROLES: each entry is a plain lower-case role name, not service_role, anon, authenticated, postgres or an authgate_/pg_ role',
      );
    }
  }
  if (hook === undefined) {
    if (allowed.length > 0) throw new ConfigError('invalid ACCESS_TOKEN_HOOK_ROLES: set ACCESS_TOKEN_HOOK beside it');
    return null;
  }
  const [schema, name] = hook.split('.') as [string, string];
  return { schema, name, roles: allowed, timeoutMs };
}

/** REFRESH_TOKEN_COOKIE and its attributes; an attribute set while the mode is off is refused, not ignored. */
function refreshTokenCookie(
  e: Pick<
    z.infer<typeof EnvSchema>,
    | 'REFRESH_TOKEN_COOKIE'
    | 'REFRESH_TOKEN_COOKIE_NAME'
    | 'REFRESH_TOKEN_COOKIE_PATH'
    | 'REFRESH_TOKEN_COOKIE_SAMESITE'
    | 'REFRESH_TOKEN_COOKIE_DOMAIN'
    | 'REFRESH_TOKEN_TTL_S'
    | 'SESSION_TIMEBOX_S'
  >,
): RefreshTokenCookieSettings | null {
  const { REFRESH_TOKEN_COOKIE_NAME: name, REFRESH_TOKEN_COOKIE_PATH: path, REFRESH_TOKEN_COOKIE_DOMAIN: domain } = e;
  const sameSite = e.REFRESH_TOKEN_COOKIE_SAMESITE;
  if (e.REFRESH_TOKEN_COOKIE === 'off') {
    const stray = (
      [
        ['REFRESH_TOKEN_COOKIE_NAME', name],
        ['REFRESH_TOKEN_COOKIE_PATH', path],
        ['REFRESH_TOKEN_COOKIE_SAMESITE', sameSite],
        ['REFRESH_TOKEN_COOKIE_DOMAIN', domain],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (stray) throw new ConfigError(`invalid ${stray[0]}: set REFRESH_TOKEN_COOKIE=on beside it, or remove it`);
    return null;
  }
  // A cross-site request must never carry the cookie: SameSite is the CSRF defence's first layer.
  if (sameSite === 'none') {
    throw new ConfigError(
      'invalid REFRESH_TOKEN_COOKIE_SAMESITE: none would send the refresh token with requests from other sites, and the CSRF defence relies on SameSite; use lax or strict',
    );
  }
  const settings: RefreshTokenCookieSettings = {
    name: name ?? 'authgate-refresh-token',
    path: path ?? '/graphql',
    sameSite: sameSite === 'strict' ? 'Strict' : 'Lax',
    domain: domain ?? null,
    // A refresh token outlives neither its TTL nor its session's timebox.
    maxAgeS: e.SESSION_TIMEBOX_S > 0 ? Math.min(e.REFRESH_TOKEN_TTL_S, e.SESSION_TIMEBOX_S) : e.REFRESH_TOKEN_TTL_S,
  };
  // Browsers refuse a __Host- cookie with a Domain or a Path other than / (RFC 6265bis, cookie prefixes).
  if (settings.name.startsWith('__Host-') && (settings.path !== '/' || settings.domain !== null)) {
    throw new ConfigError(
      'invalid REFRESH_TOKEN_COOKIE_NAME: a __Host- cookie needs REFRESH_TOKEN_COOKIE_PATH=/ and no REFRESH_TOKEN_COOKIE_DOMAIN',
    );
  }
  return settings;
}

/** The providers' documented siteverify endpoints. */
const SITEVERIFY = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
  hcaptcha: 'https://api.hcaptcha.com/siteverify',
} as const;

/** CAPTCHA_*: all or nothing, and the secret travels over https except to this machine. */
function captcha(
  provider: 'turnstile' | 'hcaptcha' | undefined,
  secret: string | undefined,
  verifyUrl: string | undefined,
  timeoutMs: number,
): Config['captcha'] {
  if (provider === undefined) {
    if (secret !== undefined || verifyUrl !== undefined) {
      throw new ConfigError('invalid CAPTCHA_PROVIDER: set it (turnstile or hcaptcha) beside CAPTCHA_SECRET');
    }
    return null;
  }
  if (secret === undefined) {
    throw new ConfigError(`invalid CAPTCHA_SECRET: CAPTCHA_PROVIDER=${provider} needs the secret key of your site`);
  }
  const url = new URL(verifyUrl ?? SITEVERIFY[provider]);
  if (url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new ConfigError(
      'invalid CAPTCHA_VERIFY_URL: the secret is sent to it, so it must be https (or this machine)',
    );
  }
  return { provider, secret, verifyUrl: url.toString(), timeoutMs };
}

/**
 * CORS_ORIGINS as the origins browsers may call from (null: any). Set but blank means none,
 * unlike other variables where blank means unset: an operator who writes `CORS_ORIGINS=` is
 * asking for no cross-origin access, never for the permissive development default.
 */
function corsOrigins(value: string | undefined, nodeEnv: string): string[] | null {
  if (value === undefined) return nodeEnv === 'production' ? [] : null;
  const entries = value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o.length > 0);
  if (entries.includes('*')) return null;
  return entries.map((entry) => {
    // Browsers send the bare origin (scheme, host, port), so that is what an entry may name and
    // what it is compared as; a path would never match and is refused rather than ignored.
    const url = URL.parse(entry);
    if (
      !url ||
      !/^https?:$/.test(url.protocol) ||
      url.pathname !== '/' ||
      url.search ||
      url.hash ||
      url.username ||
      url.password
    ) {
      throw new ConfigError('invalid CORS_ORIGINS: each entry is an origin such as https://app.example, or *');
    }
    return url.origin;
  });
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Unset, the relying party is the public URL's host and the origin its own: a passkey made on
 * http://localhost:4000 works there. An origin must be the RP ID's host or a subdomain of it,
 * else browsers refuse the ceremony: that is checked here, at start-up, not by a user's failure.
 */
function webauthnConfig(
  e: { WEBAUTHN_RP_ID?: string; WEBAUTHN_RP_NAME?: string; WEBAUTHN_ORIGINS?: string; MFA_ISSUER: string },
  publicUrl: string,
): Config['webauthn'] {
  const rpId = e.WEBAUTHN_RP_ID ?? new URL(publicUrl).hostname;
  const origins = (e.WEBAUTHN_ORIGINS ?? new URL(publicUrl).origin)
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      let url: URL;
      try {
        url = new URL(o);
      } catch {
        throw new ConfigError('invalid WEBAUTHN_ORIGINS: a comma-separated list of origins (https://app.example.com)');
      }
      if (!/^https?:$/.test(url.protocol) || url.origin !== o.replace(/\/+$/, '')) {
        throw new ConfigError('invalid WEBAUTHN_ORIGINS: each entry is an origin alone (scheme, host, port)');
      }
      if (url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`)) {
        throw new ConfigError('invalid WEBAUTHN_ORIGINS: every origin must be WEBAUTHN_RP_ID or a subdomain of it');
      }
      return url.origin;
    });
  if (origins.length === 0) throw new ConfigError('invalid WEBAUTHN_ORIGINS: at least one origin');
  return { rpId, rpName: e.WEBAUTHN_RP_NAME ?? e.MFA_ISSUER, origins };
}
