import type { Config } from '../config.js';
import { BROWSER_SESSION_JS } from './browser-session.js';
import { cspHash, pageCsp } from './csp.js';

export type MailLinkPage = {
  /** The path the gateway answers with the page, e.g. `/`. */
  path: string;
  html: string;
  csp: string;
};

/** Gateway paths of its own: a MAIL_LINK_URL on one of them gets no page. */
const TAKEN = /^\/(graphql\/?|healthz|readyz|metrics|\.well-known\/.*|auth\/.*)$/;

/**
 * The page mailed links open when MAIL_LINK_URL points at the gateway itself (the default,
 * `PUBLIC_URL/`), so every mailed flow completes on a fresh set-up; null when the links point
 * at an app, which handles them. A provider sign-in that returns there (OIDC_REDIRECT_URLS'
 * default is the same `PUBLIC_URL/`) completes on it too. The page is static (the same bytes
 * for every link) and only its script, run in the browser, reads the token or code: a GET
 * spends nothing, so a mail scanner that fetches links consumes none.
 */
export function mailLinkPage(
  config: Pick<Config, 'publicUrl' | 'graphiql' | 'trustedDocuments'> & { mail: Pick<Config['mail'], 'linkUrl'> },
): MailLinkPage | null {
  // Its mutations are text of its own, which TRUSTED_DOCUMENTS_ONLY refuses: the app's client has the links.
  if (config.trustedDocuments.only) return null;
  const gateway = new URL(`${config.publicUrl}/`);
  const link = new URL(config.mail.linkUrl);
  // PUBLIC_URL may carry a path a proxy strips: the gateway sees the link's path without it.
  if (link.origin !== gateway.origin || !link.pathname.startsWith(gateway.pathname)) return null;
  const path = `/${link.pathname.slice(gateway.pathname.length)}`;
  if (TAKEN.test(path)) return null;
  const endpoint = `${gateway.pathname}graphql`;
  const settings = JSON.stringify({ endpoint, graphiql: config.graphiql });
  const script = `${BROWSER_SESSION_JS}\nconst config = ${settings};\n${PAGE_JS}`;
  const html = PAGE_HTML.replace('/*style*/', () => STYLE).replace('/*script*/', () => script);
  return {
    path,
    html,
    csp: pageCsp({ 'script-src': cspHash(script), 'style-src': cspHash(STYLE), 'connect-src': "'self'" }),
  };
}

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #111; background: #f6f6f6; }
main { max-width: 32rem; margin: 4rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: 8px; }
h1 { font-size: 1.4rem; margin-top: 0; }
label { display: block; margin: 1rem 0 0.25rem; }
input { font: inherit; width: 100%; box-sizing: border-box; padding: 0.4rem; }
button { font: inherit; margin-top: 1rem; padding: 0.4rem 1rem; cursor: pointer; }
#error { color: #a00; }
code { background: #eee; padding: 0 0.2em; }
`;

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>authgate</title>
<style>/*style*/</style>
</head>
<body>
<main>
<h1 id="title">authgate</h1>
<p id="status" role="status">Completing the link…</p>
<form id="recovery" hidden>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<button type="submit">Set the new password</button>
</form>
<p id="error" role="alert" hidden></p>
<p id="next" hidden></p>
<noscript>This page needs JavaScript to complete the link.</noscript>
</main>
<script>/*script*/</script>
</body>
</html>
`;

/**
 * Browser code, after `config` (the GraphQL endpoint's path; whether GraphiQL is served): reads
 * `?token=…&type=…`, runs the mutation that type's link is for and shows the outcome; or reads
 * a provider sign-in's return (`?code=…`, or `?error=…&error_description=…`, see
 * auth/flows/oidc/callback.ts) and runs exchangeCode. A session it makes is handed to GraphiQL
 * (see browser-session.ts) when GraphiQL is on; the refresh token is never even asked for.
 */
const PAGE_JS = `
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const type = params.get('type');
  const code = params.get('code');
  const providerError = params.get('error');
  // The token or code leaves the address bar and the history at once: it is a credential.
  if (location.search) history.replaceState(null, '', location.pathname);

  const PAYLOAD = 'accessToken user { email }';
  const FLOWS = {
    confirmation: {
      title: 'Confirming your email',
      query: 'mutation VerifyEmail($token: String!) { verifyEmail(token: $token) { ' + PAYLOAD + ' } }',
      done: (data) => signedIn('Email confirmed', data.verifyEmail, 'The address is confirmed.'),
      again: 'resendConfirmation(email)',
    },
    magiclink: {
      title: 'Signing in',
      query: 'mutation VerifyMagicLink($token: String!) { verifyMagicLink(token: $token) { ' + PAYLOAD + ' } }',
      done: (data) => signedIn('Signed in', data.verifyMagicLink, ''),
      again: 'signInWithOtp(email)',
    },
    recovery: {
      title: 'Choose a new password',
      query:
        'mutation ResetPassword($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) { ' +
        PAYLOAD +
        ' } }',
      done: (data) => signedIn('Password changed', data.resetPassword, 'Every other session was signed out.'),
      again: 'requestPasswordReset(email)',
    },
    email_change: {
      title: 'Confirming your new email',
      query: 'mutation ConfirmEmailChange($token: String!) { confirmEmailChange(token: $token) { complete email awaiting } }',
      done: (data) => emailChange(data.confirmEmailChange),
      again: 'updateUser(input: { email })',
    },
  };
  FLOWS.email_change_current = { ...FLOWS.email_change, title: 'Approving the change of your email' };
  // Joining an organisation is the signed-in user's act: it runs with the session this tab keeps.
  FLOWS.invitation = {
    title: 'Accepting the invitation',
    query: 'mutation AcceptInvitation($token: String!) { acceptInvitation(token: $token) { name } }',
    done: (data) => {
      $('title').textContent = 'Invitation accepted';
      show('status', 'You are now a member of ' + data.acceptInvitation.name + '.');
    },
    again: 'inviteMember',
    hints: {
      UNAUTHENTICATED:
        'Sign in with the invited address first (a confirmation or sign-in link, or GraphiQL, in this tab), then open the invitation link again.',
      INVITATION_INVALID: 'The invitation was used already, has expired or was revoked: ask for a new one.',
      INVITATION_EMAIL_MISMATCH:
        'The invitation is for another address: sign in with the invited address, confirmed, then open the link again.',
    },
  };
  // A provider sign-in (GET /auth/<name>/start) sent back here with its one-time code. Without a
  // code_challenge at the start the code alone completes it; with one, only the app holding the
  // verifier can, and it should have asked to come back to its own redirect_to.
  const PROVIDER = {
    title: 'Signing in',
    query: 'mutation ExchangeCode($code: String!) { exchangeCode(code: $code) { ' + PAYLOAD + ' mfaRequired } }',
    done: (data) =>
      signedIn(
        'Signed in',
        data.exchangeCode,
        data.exchangeCode.mfaRequired
          ? 'The account has a second factor: complete it with mfaVerify before what needs aal2.'
          : '',
      ),
    hints: {
      INVALID_CODE:
        'The sign-in code was used already or has expired, or the sign-in was started with a code_challenge, ' +
        'whose verifier only the app that started it holds (such an app passes its own redirect_to and calls ' +
        'exchangeCode itself). Start the sign-in again.',
      EMAIL_TAKEN:
        'An account with this email already exists: sign in to it (password or magic link), then add this provider ' +
        'with linkIdentity.',
      FORBIDDEN:
        'This was a linkIdentity, which only the user who started it can finish: open its url in the tab where ' +
        "GraphiQL holds that user's session, or exchange the code in the app with that user's bearer token.",
      IDENTITY_ALREADY_LINKED: 'This provider account is linked to another user of this gateway already.',
    },
  };
  const PROVIDER_ERRORS = {
    invalid_request: 'The provider sent no code back. Start the sign-in again.',
    access_denied: 'The sign-in was refused or cancelled at the provider. Start it again to sign in.',
    server_error:
      "The provider's answer could not be verified; the gateway logs why, as a warning: provider sign-in failed. " +
      'Try again; if it persists, check the provider in OIDC_PROVIDERS.',
  };

  const HINTS = {
    INVALID_TOKEN: 'The link was used already, has expired, or a newer mail replaced it. Ask for a new mail with ',
    WEAK_PASSWORD: 'Choose a longer or less common password and submit again.',
    RATE_LIMITED: 'Too many attempts from here: wait a few minutes, then open the link again.',
    EMAIL_TAKEN: 'Another account uses this address now; the change cannot complete.',
  };

  function show(id, text) {
    $(id).textContent = text;
    $(id).hidden = !text;
  }
  function signedIn(title, payload, note) {
    const session = config.graphiql ? authgateSession.keep(payload.accessToken, payload.user.email) : null;
    $('title').textContent = title;
    show('status', ('Signed in as ' + (payload.user.email || 'your account') + '. ' + note).trim());
    if (session) offerGraphiQL('Open GraphiQL, signed in as ' + session.who);
  }
  function emailChange(status) {
    $('title').textContent = status.complete ? 'Email changed' : 'Link confirmed';
    show(
      'status',
      status.complete
        ? 'The address of the account is now ' + status.email + '.'
        : status.awaiting === 'NEW'
          ? 'Confirmed. The change to ' + status.email + ' completes once the new address uses the link mailed to it.'
          : 'Confirmed. The change to ' + status.email + ' completes once the current address approves it with the link mailed to it.',
    );
  }
  function offerGraphiQL(text) {
    const a = document.createElement('a');
    a.href = config.endpoint;
    a.textContent = text;
    $('next').replaceChildren(a);
    $('next').hidden = false;
  }
  function failed(error, flow) {
    const ext = (error && error.extensions) || {};
    const code = ext.reason || ext.code || 'NETWORK';
    const hint =
      code === 'NETWORK'
        ? 'The gateway did not answer. Is it running? Then reload the mail link.'
        : code === 'INVALID_TOKEN'
          ? HINTS.INVALID_TOKEN + (flow ? flow.again : 'the mutation that sent it') + '.'
          : (flow && flow.hints && flow.hints[code]) || HINTS[code] || (error && error.message) || 'Unexpected error.';
    $('error').dataset.code = code;
    show('error', code + (ext.reason && ext.code ? ' (' + ext.code + ')' : '') + ': ' + hint);
  }

  async function post(query, variables, bearer) {
    // JSON is not a "simple" content type: the gateway's CSRF rule admits it (a browser preflights it cross-site).
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (bearer) headers.authorization = 'Bearer ' + bearer;
    try {
      const response = await fetch(config.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
        credentials: 'omit',
        cache: 'no-store',
      });
      return await response.json();
    } catch {
      return null;
    }
  }

  async function run(flow, variables, bearer) {
    show('error', '');
    let body = await post(flow.query, variables, bearer);
    const early = body && !('data' in body) && body.errors && body.errors[0] && body.errors[0].extensions;
    if (bearer && early && early.code === 'UNAUTHENTICATED') {
      // The kept session was refused before anything ran (the code is unspent): it is over, go on without it.
      authgateSession.forget();
      body = await post(flow.query, variables, null);
    }
    if (body && body.data && !body.errors) {
      flow.done(body.data);
      return true;
    }
    failed(body && body.errors ? body.errors[0] : null, flow);
    return false;
  }

  const flow = FLOWS[type];
  if (!token && providerError) {
    // The provider's refusal (or the gateway's verdict on its answer), as the callback sent it.
    // Its error_description is not shown: anyone can write one into a link to this page.
    const error = /^[a-z_]{1,64}$/.test(providerError) ? providerError : 'access_denied';
    $('title').textContent = 'Not signed in';
    show('status', 'The provider sign-in did not complete.');
    $('error').dataset.code = error;
    show('error', error + ': ' + (Object.hasOwn(PROVIDER_ERRORS, error) ? PROVIDER_ERRORS[error] : 'Start the sign-in again.'));
    return;
  }
  if (!token && code) {
    $('title').textContent = PROVIDER.title;
    // A linkIdentity finishes only with its user's bearer token: the session this tab keeps for GraphiQL, if any.
    const kept = authgateSession.read();
    void run(PROVIDER, { code }, kept && kept.accessToken);
    return;
  }
  if (!token || !flow) {
    $('title').textContent = 'Nothing to complete';
    show('status', 'This page completes the links authgate mails (confirmation, sign-in, password recovery, email change, invitation) and provider sign-ins that return here. This address has neither in it: open the link from the mail again, or start the sign-in again.');
    if (config.graphiql) offerGraphiQL('Open GraphiQL');
    return;
  }
  $('title').textContent = flow.title;
  if (type === 'invitation') {
    const kept = authgateSession.read();
    void run(flow, { token }, kept && kept.accessToken);
    return;
  }
  if (type !== 'recovery') {
    // The user opened this link from the mail: completing it on load is what they asked for.
    void run(flow, { token });
    return;
  }
  // A new password is the user's to choose: nothing happens until the form is submitted.
  show('status', 'Enter the new password for your account.');
  const form = $('recovery');
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    const ok = await run(flow, { token, password: $('password').value });
    button.disabled = false;
    if (ok) form.hidden = true;
  });
})();
`;
