/** The parts of an OpenID Provider's discovery document the gateway uses. */
export type ProviderMetadata = {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  id_token_signing_alg_values_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
};

const FRESH_MS = 60 * 60 * 1000;
// A failed fetch is retried after this long, not on every request: an issuer that is down
// must not turn each bearer token into an outbound request.
const RETRY_MS = 5000;

type Entry = { at: number; ok: boolean; value: Promise<ProviderMetadata> };

/**
 * `<issuer>/.well-known/openid-configuration`, cached for an hour. The document must name
 * the same issuer it was fetched for (OpenID Connect Discovery 1.0, section 4.3).
 */
export function createDiscovery() {
  const cache = new Map<string, Entry>();
  return async function discover(issuer: string, timeoutMs: number): Promise<ProviderMetadata> {
    const hit = cache.get(issuer);
    const age = hit ? Date.now() - hit.at : Number.POSITIVE_INFINITY;
    if (hit && age < (hit.ok ? FRESH_MS : RETRY_MS)) return hit.value;
    const entry: Entry = { at: Date.now(), ok: true, value: fetchMetadata(issuer, timeoutMs) };
    entry.value.catch(() => {
      entry.ok = false;
    });
    cache.set(issuer, entry);
    return entry.value;
  };
}

async function fetchMetadata(issuer: string, timeoutMs: number): Promise<ProviderMetadata> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new Error(`discovery answered ${res.status}`);
  const doc = (await res.json()) as Partial<ProviderMetadata>;
  if (doc.issuer !== issuer) throw new Error('discovery document names another issuer');
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    if (typeof doc[key] !== 'string' || !/^https?:\/\//.test(doc[key])) throw new Error(`discovery lacks ${key}`);
  }
  return doc as ProviderMetadata;
}

export type Discover = ReturnType<typeof createDiscovery>;
