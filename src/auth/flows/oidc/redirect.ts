import type { Config } from '../../../config.js';

/** Only where the operator said finished sign-ins may go: an open redirector leaks codes. */
export function allowedRedirect(config: Pick<Config, 'oidc'>, raw: string | null): string | null {
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
