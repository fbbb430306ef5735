const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/**
 * An RFC 7636 pair with Web Crypto, the same in browsers and Node: 32 random bytes as the verifier
 * (43 base64url characters), its SHA-256 as the S256 challenge.
 */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/** Where the landing page finds the code: its full URL, a URL, or its query string. */
export type LandingUrl = string | URL | URLSearchParams;

export function landingParams(landing: LandingUrl): URLSearchParams {
  if (landing instanceof URLSearchParams) return landing;
  if (landing instanceof URL) return landing.searchParams;
  return landing.includes('://') ? new URL(landing).searchParams : new URLSearchParams(landing);
}
