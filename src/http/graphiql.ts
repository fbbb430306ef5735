import { BROWSER_SESSION_JS } from './browser-session.js';
import { cspHash, pageCsp } from './csp.js';

/**
 * Browser code run in the GraphiQL page before GraphiQL itself. GraphiQL sends every request
 * through `globalThis.fetch` (yoga's executor looks it up per call), so a wrapper there sees
 * each operation: a response with an `accessToken` anywhere in its data (signUp, signIn,
 * refresh, verifyEmail, register's session…) starts the session; later requests to the
 * endpoint carry it as `Authorization: Bearer …` unless the Headers pane sets Authorization;
 * signOut (but not of OTHERS), deleteAccount, or the token refused (UNAUTHENTICATED) ends it.
 * A line at the bottom right says who is signed in.
 */
const SESSION_JS = `
(() => {
  ${BROWSER_SESSION_JS}
  const endpoint = location.pathname.replace(/\\/$/, '');
  const line = document.createElement('div');
  line.id = 'authgate-session';
  line.setAttribute('role', 'status');
  line.setAttribute('aria-label', 'authgate session');
  line.style.cssText =
    'position:fixed;right:24px;bottom:24px;z-index:10;padding:3px 8px;border-radius:6px;font:12px system-ui,sans-serif;background:rgba(0,0,0,.7);color:#fff;white-space:nowrap';
  const text = document.createElement('span');
  const forget = document.createElement('button');
  forget.type = 'button';
  forget.textContent = 'Forget';
  forget.style.cssText = 'margin-left:8px;font:inherit;padding:0 6px;cursor:pointer';
  forget.addEventListener('click', () => {
    authgateSession.forget();
    show();
  });
  line.append(text, forget);
  document.body.append(line);
  function show(note) {
    const s = authgateSession.read();
    text.textContent = s
      ? 'Signed in as ' + s.who + ' (sent as Authorization: Bearer unless the Headers pane sets one)'
      : 'Not signed in' + (note ? ' (' + note + ')' : '') + ': run SignUp or SignIn and its access token is sent for you';
    forget.hidden = !s;
  }
  show();

  /** The first object in the answer's data with an access token (AuthPayload, or register's session). */
  function sessionIn(value, depth) {
    if (!value || typeof value !== 'object' || depth > 6) return null;
    if (typeof value.accessToken === 'string') return value;
    for (const v of Object.values(value)) {
      const found = sessionIn(v, depth + 1);
      if (found) return found;
    }
    return null;
  }

  const fetchOriginal = globalThis.fetch.bind(globalThis);
  globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.origin !== location.origin || url.pathname.replace(/\\/$/, '') !== endpoint) return fetchOriginal(input, init);
    const headers = new Headers(init && init.headers ? init.headers : input instanceof Request ? input.headers : undefined);
    const session = authgateSession.read();
    const carried = session !== null && !headers.has('authorization');
    if (carried) headers.set('authorization', 'Bearer ' + session.accessToken);
    const response = await fetchOriginal(input, { ...init, headers });
    if (!(response.headers.get('content-type') || '').includes('json')) return response;
    let body;
    try {
      body = await response.clone().json();
    } catch {
      return response;
    }
    const sent = headers.get('authorization');
    const ours = session !== null && sent === 'Bearer ' + session.accessToken;
    const found = sessionIn(body && body.data, 0);
    const request = typeof (init && init.body) === 'string' ? init.body : '';
    const codes = ((body && body.errors) || []).map((e) => e && e.extensions && e.extensions.code);
    if (found) {
      authgateSession.keep(found.accessToken, found.user && found.user.email);
      show();
    } else if (ours && codes.includes('UNAUTHENTICATED')) {
      authgateSession.forget();
      show('the gateway refused the token: the session ended or expired');
    } else if (ours && codes.length === 0 && /\\b(signOut|deleteAccount)\\b/.test(request) && !/OTHERS/.test(request)) {
      authgateSession.forget();
      show('signed out');
    }
    return response;
  };
})();
`;

/**
 * The bundled GraphiQL page, rendered on first use, and the CSP it runs under: its inline
 * script by hash (no other script, no eval), Monaco's workers from the blob: URLs that script
 * makes, requests to this origin only, never framed. Styles need 'unsafe-inline': Monaco and
 * GraphiQL insert <style> elements and style attributes at run time, which no hash can name.
 * The page is a 9 MB module, so it is imported on the first request for it, not at start:
 * a production gateway, where GraphiQL is off, never holds it. The session code (SESSION_JS)
 * opens the page's script, so it runs before GraphiQL makes its first request.
 */
export function bundledGraphiQL(options: { title: string; defaultQuery: string }): {
  html: () => Promise<string>;
  csp: () => string;
} {
  let page: Promise<{ html: string; csp: string }> | undefined;
  let built: { html: string; csp: string } | undefined;
  const build = async (): Promise<{ html: string; csp: string }> => {
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    const rendered = renderGraphiQL(options);
    const opening = /<div id="root"><\/div>\s*<script>/;
    if (!opening.test(rendered)) throw new Error('GraphiQL: the page no longer has its script after #root');
    const html = rendered.replace(opening, (tag) => `${tag}${SESSION_JS}`);
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => cspHash(m[1] ?? ''));
    const csp = pageCsp({
      'script-src': scripts.join(' '),
      'style-src': "'unsafe-inline'",
      'img-src': 'data:',
      'font-src': 'data:',
      'worker-src': 'blob:',
      'connect-src': "'self'",
    });
    built = { html, csp };
    return built;
  };
  return {
    html: async () => {
      page ??= build();
      return (await page).html;
    },
    // The page is rendered before its response exists, so `built` is set whenever a page is
    // answered; anything else in HTML gets a CSP that lets nothing run.
    csp: () => built?.csp ?? "default-src 'none'; frame-ancestors 'none'",
  };
}
