/**
 * Browser code (a string, served inside the gateway's own pages) that keeps the playground's
 * session: `authgateSession.read()`, `.keep(accessToken, email)` and `.forget()`.
 *
 * Only the access token is kept, with who it is for and when it expires, in sessionStorage:
 * it survives a reload of the tab and a step from the mail-link page to GraphiQL, and dies with
 * the tab; other tabs and other sites never see it. It is short-lived, and a page of the
 * gateway's own origin, under a CSP that runs no other script, is the only reader. The refresh
 * token is never kept: it stays in the result pane, for the user to spend with refresh.
 */
export const BROWSER_SESSION_JS = `
const authgateSession = (() => {
  const KEY = 'authgate.session';
  /** The token's claims, for display and expiry only: the gateway verifies it, the page never trusts it. */
  const claimsOf = (token) => {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return {};
    }
  };
  const forget = () => {
    try {
      sessionStorage.removeItem(KEY);
    } catch {}
  };
  return {
    read() {
      try {
        const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
        if (s && typeof s.accessToken === 'string' && s.expiresAt > Date.now()) return s;
      } catch {}
      forget();
      return null;
    },
    keep(accessToken, email) {
      const claims = claimsOf(accessToken);
      const who = email || claims.email || (claims.is_anonymous ? 'an anonymous user' : claims.sub) || 'a user';
      const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + 3600 * 1000;
      const session = { accessToken, who, expiresAt };
      try {
        sessionStorage.setItem(KEY, JSON.stringify(session));
      } catch {}
      return session;
    },
    forget,
  };
})();
`;
