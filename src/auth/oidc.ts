import { and, eq, gt, sql } from 'drizzle-orm';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import type { OidcProvider } from '../config.js';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/errors.js';
import { authCodes, oidcFlows } from '../db/schema.js';
import type { Logger } from '../log.js';
import type { AuthDeps } from './deps.js';
import type { ProviderMetadata } from './discovery.js';
import { AuthError } from './errors.js';
import { hashSecret, looksLikeSecret, pkceChallenge, randomSecret } from './secret.js';

const FLOW_TTL_S = 600;
const COOKIE_PREFIX = 'authgate_oidc_';
const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** An answer to the browser: a redirect (with cookies to set) or a coded error page. */
export type BrowserAnswer =
  | { kind: 'redirect'; location: string; cookies: string[] }
  | { kind: 'error'; status: number; code: string; message: string; cookies: string[] };

export type OidcBroker = ReturnType<typeof createOidcBroker>;

/**
 * Sign-in through OpenID Connect providers: the authorization-code flow with PKCE, state
 * and nonce. The provider's answer is verified here, then parked as a one-time code that
 * the browser brings back to the app, and the app exchanges (exchangeCode) for our tokens:
 * no token ever travels in a URL.
 */
export function createOidcBroker(deps: AuthDeps) {
  const { db, config, discover, limiter, log } = deps;
  const providers = new Map(config.oidc.providers.map((p) => [p.name, p]));
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  const secure = config.publicUrl.startsWith('https:');
  const callbackUrl = (p: OidcProvider) => `${config.publicUrl}/auth/${p.name}/callback`;

  const keySet = (meta: ProviderMetadata, p: OidcProvider) => {
    let ks = keySets.get(p.name);
    if (!ks) {
      ks = createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: p.timeoutMs });
      keySets.set(p.name, ks);
    }
    return ks;
  };

  /** Only where the operator said finished sign-ins may go: an open redirector leaks codes. */
  function allowedRedirect(raw: string | null): string | null {
    const target = raw ?? config.oidc.redirectUrls[0] ?? null;
    if (target === null || target.length > 2048) return null;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return null;
    }
    if (url.username || url.password || url.hash) return null;
    // Whole path segments: allowing /app/done must not allow /app/done-evil.
    const ok = config.oidc.redirectUrls.some((allowed) => {
      const a = new URL(allowed);
      if (a.origin !== url.origin) return false;
      const base = a.pathname.endsWith('/') ? a.pathname : `${a.pathname}/`;
      return url.pathname === a.pathname || url.pathname.startsWith(base);
    });
    return ok ? url.toString() : null;
  }

  /** Creates the flow row and the provider URL; `linkUserId` for a signed-in user's link. */
  async function begin(
    providerName: string,
    params: { redirectTo: string | null; codeChallenge: string | null; codeChallengeMethod: string | null },
    client: { ip: string | null },
    linkUserId: string | null,
  ): Promise<{ url: string; state: string; stateHash: string; provider: OidcProvider }> {
    const provider = providers.get(providerName);
    if (!provider) throw new AuthError('BAD_USER_INPUT', 'Unknown provider.', { reason: 'UNKNOWN_PROVIDER' });
    const redirectTo = allowedRedirect(params.redirectTo);
    if (!redirectTo) {
      throw new AuthError('BAD_USER_INPUT', 'redirect_to is not one of OIDC_REDIRECT_URLS.', {
        reason: 'REDIRECT_NOT_ALLOWED',
      });
    }
    if (params.codeChallenge !== null) {
      if ((params.codeChallengeMethod ?? 'S256') !== 'S256' || !looksLikeSecret(params.codeChallenge)) {
        throw new AuthError('BAD_USER_INPUT', 'code_challenge must be an S256 challenge (43 base64url characters).');
      }
    }
    await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
    const meta = await discover(provider.issuer, provider.timeoutMs).catch((err: unknown) => {
      throw new ProviderUnavailable((err as Error).message);
    });
    const state = randomSecret();
    const nonce = randomSecret();
    const verifier = randomSecret();
    const stateHash = hashSecret(state);
    await db.insert(oidcFlows).values({
      stateHash,
      provider: provider.name,
      codeVerifier: verifier,
      nonce,
      redirectTo,
      clientChallenge: params.codeChallenge,
      linkUserId,
      expiresAt: sql`now() + make_interval(secs => ${FLOW_TTL_S})`,
    });
    const url = new URL(meta.authorization_endpoint);
    url.search = new URLSearchParams({
      ...Object.fromEntries(url.searchParams),
      response_type: 'code',
      client_id: provider.clientId,
      redirect_uri: callbackUrl(provider),
      scope: provider.scopes,
      state,
      nonce,
      code_challenge: pkceChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), state, stateHash, provider };
  }

  const cookieName = (stateHash: string) => `${COOKIE_PREFIX}${stateHash.slice(0, 16)}`;
  const cookie = (p: OidcProvider, name: string, value: string, maxAge: number) =>
    `${name}=${value}; Path=/auth/${p.name}/callback; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

  return {
    providerNames: () => [...providers.keys()],

    /** GET /auth/:provider/start — for a sign-in; the state is bound to this browser by a cookie. */
    async start(providerName: string, query: URLSearchParams, client: { ip: string | null }): Promise<BrowserAnswer> {
      try {
        const { url, state, stateHash, provider } = await begin(
          providerName,
          {
            redirectTo: query.get('redirect_to'),
            codeChallenge: query.get('code_challenge'),
            codeChallengeMethod: query.get('code_challenge_method'),
          },
          client,
          null,
        );
        return {
          kind: 'redirect',
          location: url,
          cookies: [cookie(provider, cookieName(stateHash), state, FLOW_TTL_S)],
        };
      } catch (err) {
        return failure(err, log);
      }
    },

    /** For linkIdentity: the provider URL to open; the link is bound to the user, not a cookie. */
    async linkUrl(
      providerName: string,
      params: { redirectTo: string | null; codeChallenge: string | null },
      client: { ip: string | null },
      userId: string,
    ): Promise<string> {
      return (await begin(providerName, { ...params, codeChallengeMethod: 'S256' }, client, userId)).url;
    },

    /** GET /auth/:provider/callback — verifies the provider's answer and hands the app a one-time code. */
    async callback(providerName: string, query: URLSearchParams, cookieHeader: string | null): Promise<BrowserAnswer> {
      const provider = providers.get(providerName);
      const state = query.get('state') ?? '';
      if (!provider || !looksLikeSecret(state)) return errorPage(400, 'The sign-in link is not valid.');
      const stateHash = hashSecret(state);
      const clear = [cookie(provider, cookieName(stateHash), '', 0)];
      const [flow] = await db
        .delete(oidcFlows)
        .where(
          and(
            eq(oidcFlows.stateHash, stateHash),
            eq(oidcFlows.provider, provider.name),
            gt(oidcFlows.expiresAt, sql`now()`),
          ),
        )
        .returning();
      if (!flow) return errorPage(400, 'This sign-in expired or was already finished; start again.', clear);
      // Login CSRF: a sign-in finishes only in the browser that started it. A link needs no
      // cookie: only its own user's exchangeCode can complete it.
      if (flow.linkUserId === null && readCookie(cookieHeader, cookieName(stateHash)) !== state) {
        return errorPage(400, 'This sign-in was started in another browser; start again.', clear);
      }
      const back = (params: Record<string, string>): BrowserAnswer => {
        const url = new URL(flow.redirectTo);
        for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
        return { kind: 'redirect', location: url.toString(), cookies: clear };
      };
      const providerError = query.get('error');
      if (providerError !== null) {
        const code = /^[a-z_]{1,64}$/.test(providerError) ? providerError : 'access_denied';
        return back({ error: code, error_description: 'The provider did not sign the user in.' });
      }
      const code = query.get('code');
      if (!code || code.length > 4096) return back({ error: 'invalid_request', error_description: 'No code.' });
      try {
        const claims = await redeem(provider, code, flow.codeVerifier, flow.nonce);
        const oneTime = randomSecret();
        await db.insert(authCodes).values({
          codeHash: hashSecret(oneTime),
          provider: provider.name,
          providerId: claims.sub,
          identityData: claims.data,
          clientChallenge: flow.clientChallenge,
          linkUserId: flow.linkUserId,
          expiresAt: sql`now() + make_interval(secs => ${config.oidc.codeTtlS})`,
        });
        return back({ code: oneTime });
      } catch (err) {
        log.warn({ provider: provider.name, err: (err as Error).message }, 'provider sign-in failed');
        return back({ error: 'server_error', error_description: "The provider's answer could not be verified." });
      }
    },
  };

  /** Code -> tokens at the provider, the ID token verified, userinfo merged in when offered. */
  async function redeem(
    p: OidcProvider,
    code: string,
    verifier: string,
    nonce: string,
  ): Promise<{ sub: string; data: Record<string, unknown> }> {
    const meta = await discover(p.issuer, p.timeoutMs);
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: callbackUrl(p),
      code_verifier: verifier,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const methods = meta.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    if (methods.includes('client_secret_basic')) {
      const id = encodeURIComponent(p.clientId);
      headers.authorization = `Basic ${Buffer.from(`${id}:${encodeURIComponent(p.clientSecret)}`).toString('base64')}`;
    } else {
      body.set('client_id', p.clientId);
      body.set('client_secret', p.clientSecret);
    }
    const res = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(p.timeoutMs),
      redirect: 'error',
    });
    if (!res.ok) {
      await res.body?.cancel(); // frees the connection now, not at garbage collection
      throw new Error(`token endpoint answered ${res.status}`);
    }
    const tokens = (await res.json()) as { id_token?: unknown; access_token?: unknown };
    if (typeof tokens.id_token !== 'string') throw new Error('no id_token');
    const algorithms = (meta.id_token_signing_alg_values_supported ?? ['RS256']).filter((a) =>
      ID_TOKEN_ALGS.includes(a),
    );
    const { payload } = await jwtVerify(tokens.id_token, keySet(meta, p), {
      issuer: meta.issuer,
      audience: p.clientId,
      algorithms,
      requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
      clockTolerance: 5,
    });
    if (payload.nonce !== nonce) throw new Error('nonce mismatch');
    if (payload.azp !== undefined && payload.azp !== p.clientId) throw new Error('azp mismatch');
    const sub = payload.sub as string;
    if (sub.length > 255) throw new Error('subject too long');
    let claims: JWTPayload = payload;
    if (meta.userinfo_endpoint && typeof tokens.access_token === 'string') {
      const info = await fetch(meta.userinfo_endpoint, {
        headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(p.timeoutMs),
        redirect: 'error',
      });
      if (info.ok) {
        const extra = (await info.json()) as JWTPayload;
        // Userinfo about anyone else is ignored (OpenID Connect Core, section 5.3.2).
        if (extra.sub === sub) claims = { ...extra, ...payload };
      } else {
        await info.body?.cancel();
      }
    }
    const pick = (k: string, max: number) => {
      const v = claims[k];
      return typeof v === 'string' && v.length <= max ? v : undefined;
    };
    return {
      sub,
      data: {
        iss: meta.issuer,
        sub,
        email: pick('email', 320),
        email_verified: claims.email_verified === true,
        name: pick('name', 256),
        picture: pick('picture', 2048),
        preferred_username: pick('preferred_username', 256),
      },
    };
  }
}

class ProviderUnavailable extends Error {}

function errorPage(status: number, message: string, cookies: string[] = []): BrowserAnswer {
  return { kind: 'error', status, code: 'BAD_USER_INPUT', message, cookies };
}

function failure(err: unknown, log: Logger): BrowserAnswer {
  if (err instanceof AuthError) {
    return {
      kind: 'error',
      status: err.code === 'RATE_LIMITED' ? 429 : 400,
      code: err.code,
      message: err.message,
      cookies: [],
    };
  }
  // Both are "unavailable", but only one is the provider's fault: ECONNREFUSED from its
  // discovery document must not read as the database being away.
  if (!(err instanceof ProviderUnavailable) && isDatabaseUnavailable(err)) {
    const message = DATABASE_UNAVAILABLE_MESSAGE;
    return { kind: 'error', status: 503, code: 'SERVICE_UNAVAILABLE', message, cookies: [] };
  }
  log.warn({ err: (err as Error).message }, 'provider sign-in could not start');
  return {
    kind: 'error',
    status: 502,
    code: 'SERVICE_UNAVAILABLE',
    message: 'The provider is unavailable.',
    cookies: [],
  };
}

function readCookie(header: string | null, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return null;
}
