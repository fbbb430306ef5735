import { DOCUMENTS, type OperationName } from './documents.js';
import { AuthgateError, ProviderSignInError } from './errors.js';
import { call, transition } from './events.js';
import { type CrossTabLock, chooseLock, handoff, type Lock } from './lock.js';
import { type LandingUrl, landingParams, pkcePair } from './pkce.js';
import { lifetimeMs, SessionStore } from './session-store.js';
import { browserStorage, defaultStorage, type SessionStorage } from './storage.js';
import { bodyOf, documentId, JSON_HEADERS, readResult, refusedToken, sourceOf } from './transport.js';
import type {
  AuthChangeEvent,
  AuthPayload,
  AuthStateListener,
  Document,
  Session,
  User,
  VariablesArgs,
} from './types.js';

export type AuthClientOptions = {
  /** The gateway's GraphQL endpoint, e.g. `https://auth.example.com/graphql` or `/graphql`. */
  url: string;
  /** Where the session is kept. Default: `localStorage` in a browser, memory elsewhere. */
  storage?: SessionStorage;
  /** The storage key (and the name tabs coordinate under). Default `authgate.session`. */
  storageKey?: string;
  /**
   * Whether the refresh token may be written to `storage`. Default true. False keeps it in this
   * tab's memory only: the session then ends with the tab (pair it with memory storage).
   */
  persistRefreshToken?: boolean;
  /**
   * Cookie mode: the gateway (REFRESH_TOKEN_COOKIE=on) keeps the refresh token in an HttpOnly
   * cookie. The client then never sees a refresh token, sends credentials with every request,
   * and restores the session from the cookie on start.
   */
  cookie?: boolean;
  /**
   * Where the PKCE verifier of a provider sign-in waits while the browser is at the provider.
   * Default: `sessionStorage` in a browser (one tab's sign-in cannot overwrite another's, and it
   * survives the full-page redirect), else `storage`.
   */
  verifierStorage?: SessionStorage;
  /** How tabs agree on one refresh. Default `auto`: Web Locks, else a lease in IndexedDB (`storage`). */
  crossTabLock?: CrossTabLock;
  /**
   * Follow other tabs' sign-ins, refreshes and sign-outs, refresh ahead of expiry on a timer and
   * when the tab becomes visible again. Default: on in a browser, off elsewhere.
   */
  autoRefresh?: boolean;
  /** Refresh this many seconds before the access token expires; default 30. */
  refreshMarginSeconds?: number;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * Send each document's persisted id (`sha256:<hex>`) instead of its text: what a gateway with
   * TRUSTED_DOCUMENTS_ONLY requires. The client's own operations are in
   * `@authgate/client/persisted-documents.json` for TRUSTED_DOCUMENTS.
   */
  persistedDocuments?: boolean;
};

type Inputs = {
  signUp: { email: string; password: string; data?: Record<string, unknown> };
  signIn: { email: string; password: string };
};
type Captcha = { captchaToken?: string };

/** How long the client's own calls to the gateway (sign-in, refresh, …) may take. */
const CALL_TIMEOUT_MS = 15_000;

/**
 * A session-keeping client for authgate. One per page (or per app in Node): it reads the stored
 * session on creation, and every tab's clients with the same storage key coordinate refreshes.
 */
export class AuthClient {
  readonly url: string;
  readonly #options: AuthClientOptions;
  readonly #store: SessionStore;
  readonly #verifiers: SessionStorage;
  readonly #lock: Lock;
  readonly #lockName: string;
  readonly #handoff = handoff();
  readonly #marginMs: number;
  readonly #fetch: typeof fetch;
  readonly #listeners = new Set<AuthStateListener>();
  readonly #ids = new Map<OperationName, Promise<string>>();
  readonly #cleanups: Array<() => void> = [];
  #current: Session | null = null;
  #renewal: Promise<Session | null> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #auto = false;
  #started = false;
  /** Resolves once the stored session was read (and, in cookie mode, the cookie tried). */
  readonly ready: Promise<void>;

  constructor(options: AuthClientOptions) {
    this.url = options.url;
    this.#options = options;
    const storage = options.storage ?? defaultStorage();
    const key = options.storageKey ?? 'authgate.session';
    this.#store = new SessionStore(storage, key, options.persistRefreshToken !== false && !options.cookie);
    this.#verifiers = options.verifierStorage ?? browserStorage('sessionStorage') ?? storage;
    this.#lockName = `authgate:refresh:${key}`;
    this.#lock = chooseLock(options.crossTabLock ?? 'auto');
    this.#marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
    // Through a closure: browsers throw "Illegal invocation" for an unbound window.fetch.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.ready = this.#start(options.autoRefresh ?? typeof document !== 'undefined');
  }

  async #start(auto: boolean): Promise<void> {
    this.#current = await this.#store.load();
    this.#auto = auto;
    if (auto) this.#follow();
    // A page load in cookie mode: the cookie may hold a session this storage never saw.
    if (!this.#current && this.#options.cookie) await this.#renew().catch(() => null);
    this.#started = true;
    this.#schedule();
  }

  #follow(): void {
    this.#store.watch(() => void this.#sync());
    this.#cleanups.push(() => this.#store.close());
    if (typeof document !== 'undefined') {
      // A tab back from sleep (or from the background, where timers are throttled) renews a
      // token that expired meanwhile before anything else asks for it.
      const onVisible = () => {
        if (document.visibilityState === 'visible' && this.#current && this.#expiresSoon(this.#current)) {
          void this.#renew().catch(() => {});
        }
      };
      document.addEventListener('visibilitychange', onVisible);
      this.#cleanups.push(() => document.removeEventListener('visibilitychange', onVisible));
    }
  }

  /** Another tab wrote the session: take it over, with the events it means for this tab. */
  async #sync(): Promise<void> {
    const next = await this.#store.load();
    const before = this.#current;
    if (next?.accessToken === before?.accessToken && next?.refreshToken === before?.refreshToken) return;
    this.#current = next;
    this.#schedule();
    for (const event of transition(before, next)) this.#emit(event);
  }

  // --- reading the session ------------------------------------------------------------------

  /** The session as this tab knows it now, without waiting or renewing (for render code). */
  get session(): Session | null {
    return this.#current;
  }

  /** The session with an access token good for at least the refresh margin (renewed if need be), or null. */
  async getSession(): Promise<Session | null> {
    await this.ready;
    const session = this.#current;
    if (!session || !this.#expiresSoon(session)) return session;
    try {
      return await this.#renew();
    } catch (err) {
      // A transient failure (offline, RATE_LIMITED) need not fail while the token still covers it.
      if (Date.parse(session.expiresAt) > Date.now()) return session;
      throw err;
    }
  }

  /** The signed-in user as of the last token or `refreshUser()`, or null. */
  async getUser(): Promise<User | null> {
    return (await this.getSession())?.user ?? null;
  }

  /**
   * Calls `listener` with `INITIAL_SESSION` once the stored session is read, then with every
   * change, in this tab or (with autoRefresh) another.
   */
  onAuthStateChange(listener: AuthStateListener): { unsubscribe: () => void } {
    this.#listeners.add(listener);
    void this.ready.then(() => {
      if (this.#listeners.has(listener)) call(listener, 'INITIAL_SESSION', this.#current);
    });
    return { unsubscribe: () => this.#listeners.delete(listener) };
  }

  // --- signing in and out ----------------------------------------------------------------------

  async signUp(input: Inputs['signUp'], { captchaToken }: Captcha = {}): Promise<Session> {
    return this.#signIn('SignUp', 'signUp', { input, captchaToken });
  }

  /**
   * Creates an account whether or not the gateway requires confirmed emails: signed in when it
   * answers with a session; with `confirmationRequired` a link was mailed and nobody is signed in.
   */
  async register(
    input: Inputs['signUp'],
    { captchaToken }: Captcha = {},
  ): Promise<{ user: User; session: Session | null; confirmationRequired: boolean }> {
    return this.#lock(this.#lockName, async () => {
      const { register } = await this.#call<{
        register: { user: User; session: AuthPayload | null; confirmationRequired: boolean };
      }>('Register', { input, captchaToken });
      const session = register.session ? await this.#begin(register.session) : null;
      return { user: register.user, session, confirmationRequired: register.confirmationRequired };
    });
  }

  async signIn(input: Inputs['signIn'], { captchaToken }: Captcha = {}): Promise<Session> {
    return this.#signIn('SignIn', 'signIn', { input, captchaToken });
  }

  async signInAnonymously(data?: Record<string, unknown>, { captchaToken }: Captcha = {}): Promise<Session> {
    return this.#signIn('SignInAnonymously', 'signInAnonymously', { data, captchaToken });
  }

  /** Passes the second factor of a session that `MFA_REQUIRED`: the session becomes aal2. */
  async verifyMfa(factorId: string, code: string): Promise<Session> {
    const session = await this.getSession();
    if (!session) throw new AuthgateError('Nobody is signed in: sign in before verifying a factor.');
    return this.#lock(this.#lockName, async () => {
      const { mfaVerify } = await this.#call<{ mfaVerify: AuthPayload }>(
        'MfaVerify',
        { factorId, code },
        session.accessToken,
      );
      return this.#begin(mfaVerify);
    });
  }

  /**
   * Takes over a session another mutation answered with (verifyEmail, verifyMagicLink,
   * signInWithPasskey, resetPassword, … run through `request`): stores it, tells other tabs.
   */
  async setSession(payload: AuthPayload): Promise<Session> {
    await this.ready;
    return this.#lock(this.#lockName, () => this.#begin(payload));
  }

  /**
   * Ends the session on the gateway (`scope` LOCAL, GLOBAL or OTHERS; default LOCAL) and, but for
   * OTHERS, here and in every tab, even when the gateway cannot be reached. Resolves to whether
   * the gateway confirmed it.
   */
  async signOut(scope?: 'LOCAL' | 'GLOBAL' | 'OTHERS'): Promise<boolean> {
    const session = await this.getSession().catch(() => this.#current);
    if (!session && !this.#options.cookie) return false;
    return this.#lock(this.#lockName, async () => {
      try {
        const { signOut } = await this.#call<{ signOut: boolean }>(
          'SignOut',
          scope === undefined ? {} : { scope },
          session?.accessToken,
        );
        return signOut;
      } catch {
        return false;
      } finally {
        if (scope !== 'OTHERS') {
          await this.#commit(null, ['SIGNED_OUT']);
          if (session) await this.#handoff.replaced(this.#lockName, session.accessToken);
        }
      }
    });
  }

  /** Renews the access token now (or adopts another tab's fresher one). Null when signed out. */
  async refreshSession(): Promise<Session | null> {
    await this.ready;
    return this.#renew(this.#current?.accessToken);
  }

  /** Reads the user again (`me`) and tells listeners (`USER_UPDATED`) if anything changed. */
  async refreshUser(): Promise<User | null> {
    const { me } = await this.request<{ me: User | null }, Record<string, never>>(DOCUMENTS.Me);
    const session = this.#current;
    if (!me || !session || session.user.id !== me.id) return me;
    if (JSON.stringify(session.user) !== JSON.stringify(me)) {
      await this.#lock(this.#lockName, () => this.#commit({ ...session, user: me }, ['USER_UPDATED']));
    }
    return me;
  }

  // --- provider sign-in (OIDC, PKCE) -----------------------------------------------------------

  /**
   * The URL to send the browser to for a sign-in with `provider` (one of the gateway's
   * OIDC_PROVIDERS). Keeps a fresh PKCE verifier in storage for `finishProviderSignIn`.
   */
  async providerSignInUrl(provider: string, { redirectTo }: { redirectTo?: string } = {}): Promise<string> {
    const { verifier, challenge } = await pkcePair();
    await this.#verifiers.setItem(this.#verifierKey, verifier);
    const page = typeof location === 'undefined' ? undefined : location.href;
    const start = new URL(`/auth/${encodeURIComponent(provider)}/start`, new URL(this.url, page).origin);
    if (redirectTo !== undefined) start.searchParams.set('redirect_to', redirectTo);
    start.searchParams.set('code_challenge', challenge);
    start.searchParams.set('code_challenge_method', 'S256');
    return start.toString();
  }

  /** On the page the provider sent the browser back to: exchanges its code and signs in. */
  async finishProviderSignIn(landing: LandingUrl): Promise<Session> {
    const params = landingParams(landing);
    const verifier = await this.#verifiers.getItem(this.#verifierKey);
    // The code is single-use and spent by any attempt: the verifier has nothing left to finish.
    await this.#verifiers.removeItem(this.#verifierKey);
    const error = params.get('error');
    if (error !== null) throw new ProviderSignInError(error, params.get('error_description') ?? undefined);
    const code = params.get('code');
    if (!code) throw new ProviderSignInError('missing_code', undefined);
    return this.#signIn('ExchangeCode', 'exchangeCode', { code, codeVerifier: verifier });
  }

  get #verifierKey(): string {
    return `${this.#lockName}:pkce`;
  }

  // --- requests --------------------------------------------------------------------------------

  /**
   * A `fetch` for the gateway's GraphQL endpoint: attaches the access token (renewed first when it
   * is about to expire) and, when the gateway refuses it, renews once and sends again. Give it to
   * graphql-request, urql or Apollo as their `fetch`; bodies pass through untouched.
   */
  readonly fetch: typeof fetch = async (input, init) => {
    const session = await this.getSession().catch(() => this.#current);
    const send = (token: string | undefined) => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      if (token) headers.set('authorization', `Bearer ${token}`);
      else headers.delete('authorization');
      // The gateway's CSRF prevention refuses a GET carrying none of the headers a plain link or
      // form cannot send; signed out, urql's queries (GET by default) would have none.
      if ((init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase() === 'GET') {
        headers.set('x-graphql-yoga-csrf', '1');
      }
      const credentials = init?.credentials ?? (this.#options.cookie ? 'include' : undefined);
      return this.#fetch(input instanceof Request ? input.clone() : input, {
        ...init,
        headers,
        ...(credentials ? { credentials } : {}),
      });
    };
    const res = await send(session?.accessToken);
    if (!session || !(await refusedToken(res))) return res;
    // Revoked, expired early or skewed clocks: renew once (or adopt another tab's token), retry once.
    const renewed = await this.#renew(session.accessToken).catch(() => null);
    if (!renewed) return res;
    return send(renewed.accessToken);
  };

  /** Runs a (typed) document as the signed-in user, or anonymously when nobody is. */
  async request<TResult, TVars>(
    document: Document<TResult, TVars>,
    ...[variables]: VariablesArgs<TVars>
  ): Promise<TResult> {
    const body = bodyOf(
      sourceOf(document as Document<unknown, never>),
      variables,
      this.#options.persistedDocuments === true,
    );
    return readResult<TResult>(this.fetch(this.url, { method: 'POST', headers: JSON_HEADERS, body }));
  }

  /** Stops following other tabs and the renewal timer (a page's client normally lives as long as the page). */
  close(): void {
    this.#auto = false;
    clearTimeout(this.#timer);
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.#listeners.clear();
  }

  // --- internals -------------------------------------------------------------------------------

  async #signIn(operation: OperationName, field: string, variables: Record<string, unknown>): Promise<Session> {
    await this.ready;
    // Under the lock: a refresh of the previous session in another tab must not land after it.
    return this.#lock(this.#lockName, async () => {
      const data = await this.#call<Record<string, AuthPayload>>(operation, variables);
      return this.#begin(data[field] as AuthPayload);
    });
  }

  /** A new session from the gateway: SIGNED_IN, or MFA_REQUIRED while a factor is still owed. */
  async #begin(payload: AuthPayload): Promise<Session> {
    const session = this.#sessionOf(payload);
    await this.#commit(session, [session.mfaRequired ? 'MFA_REQUIRED' : 'SIGNED_IN']);
    return session;
  }

  /**
   * One renewal per tab at a time, and under the cross-tab lock one per origin. `rejected` is the
   * access token the gateway refused (or a forced renewal's current one): exchange unless the
   * stored session holds a fresh token other than that one (another tab just renewed it).
   */
  #renew(rejected?: string): Promise<Session | null> {
    this.#renewal ??= this.#lock(this.#lockName, () => this.#renewLocked(rejected)).finally(() => {
      this.#renewal = null;
    });
    return this.#renewal;
  }

  async #renewLocked(rejected: string | undefined): Promise<Session | null> {
    let stored = await this.#store.load();
    if (stored && (await this.#handoff.wasReplaced(this.#lockName, stored.accessToken))) {
      stored = await this.#store.loadPast(stored.accessToken);
    }
    if (stored && stored.accessToken !== rejected && !this.#expiresSoon(stored)) {
      // Another tab renewed it while this one waited for the lock: adopt its pair.
      if (stored.accessToken !== this.#current?.accessToken) await this.#sync();
      return stored;
    }
    if (!stored?.refreshToken && !this.#options.cookie) {
      if (this.#current || stored) await this.#commit(null, ['SIGNED_OUT']);
      return null;
    }
    let payload: AuthPayload;
    try {
      // In cookie mode the empty argument tells the gateway to read the refresh token from the cookie.
      ({ refresh: payload } = await this.#call<{ refresh: AuthPayload }>('Refresh', {
        refreshToken: stored?.refreshToken ?? '',
      }));
    } catch (err) {
      // The session is over on the gateway: signed out, once, and no retry.
      if (err instanceof AuthgateError && err.has('INVALID_REFRESH_TOKEN')) {
        if (this.#current || stored) await this.#commit(null, ['SIGNED_OUT']);
        if (stored) await this.#handoff.replaced(this.#lockName, stored.accessToken);
        return null;
      }
      throw err;
    }
    const next = this.#sessionOf(payload);
    const events: AuthChangeEvent[] = stored ? ['TOKEN_REFRESHED'] : ['SIGNED_IN'];
    if (stored && JSON.stringify(stored.user) !== JSON.stringify(next.user)) events.push('USER_UPDATED');
    await this.#commit(next, events);
    if (stored) await this.#handoff.replaced(this.#lockName, stored.accessToken);
    return next;
  }

  async #commit(session: Session | null, events: AuthChangeEvent[]): Promise<void> {
    await this.#store.save(session);
    this.#current = session;
    this.#schedule();
    for (const event of events) this.#emit(event);
  }

  #emit(event: AuthChangeEvent): void {
    // Before the start is done (a session restored from the cookie), INITIAL_SESSION says it all.
    if (!this.#started) return;
    for (const listener of [...this.#listeners]) call(listener, event, this.#current);
  }

  /** With autoRefresh: renew shortly before expiry; every tab's timer fires, the lock lets one exchange. */
  #schedule(): void {
    clearTimeout(this.#timer);
    const session = this.#current;
    if (!session || !this.#auto) return;
    const due = Date.parse(session.expiresAt) - this.#margin(session) - Date.now();
    this.#timer = setTimeout(() => void this.#renew().catch(() => {}), Math.max(0, due));
  }

  /**
   * Within the refresh margin of expiry. The margin is at most half the token's lifetime, so a
   * margin longer than the gateway's ACCESS_TOKEN_TTL_S cannot make every new token due at once
   * (and the renewal timer spin).
   */
  #expiresSoon(session: Session): boolean {
    return Date.parse(session.expiresAt) - Date.now() <= this.#margin(session);
  }

  #margin(session: Session): number {
    return Math.min(this.#marginMs, lifetimeMs(session.accessToken) / 2);
  }

  #sessionOf(payload: AuthPayload): Session {
    return {
      accessToken: payload.accessToken,
      // Cookie mode: the body's refreshToken is "" and the real one is in the HttpOnly cookie.
      refreshToken: this.#options.cookie || !payload.refreshToken ? null : payload.refreshToken,
      expiresAt: payload.expiresAt,
      aal: payload.aal,
      mfaRequired: payload.mfaRequired,
      user: payload.user,
    };
  }

  /** One of the client's own operations, by text or (persisted documents) by id. */
  async #call<T>(operation: OperationName, variables: Record<string, unknown>, token?: string): Promise<T> {
    const query = DOCUMENTS[operation];
    let id: string | undefined;
    if (this.#options.persistedDocuments) {
      const pending = this.#ids.get(operation) ?? documentId(query);
      this.#ids.set(operation, pending);
      id = await pending;
    }
    const body = bodyOf({ query, operationName: operation, id }, variables, id !== undefined);
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (token) headers.authorization = `Bearer ${token}`;
    return readResult<T>(
      this.#fetch(this.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        ...(this.#options.cookie ? { credentials: 'include' as const } : {}),
      }),
    );
  }
}

export function createAuthClient(options: AuthClientOptions): AuthClient {
  return new AuthClient(options);
}
