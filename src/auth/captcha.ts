import { GraphQLError } from 'graphql';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { AuthError, type Reason } from './errors.js';

/**
 * CAPTCHA for the flows bots target. `verify` runs before any other work of such a flow (no
 * hash, no statement), so a bot without a solved challenge costs one HTTP call at most.
 */
export type Captcha = {
  /** Whether the flows require a token (CAPTCHA_PROVIDER is set). */
  readonly required: boolean;
  /** Throws unless the provider confirms `token`, solved by the client at `ip`. */
  verify: (token: string | null | undefined, ip: string | null) => Promise<void>;
};

// Turnstile's tokens are at most 2048 characters; hCaptcha's are shorter.
const TOKEN_MAX = 4096;

const failed = (message: string): AuthError => new AuthError('FORBIDDEN', message, { reason: 'CAPTCHA_FAILED' });

/**
 * The provider cannot answer: fail closed, SERVICE_UNAVAILABLE, as for a database out of reach
 * (the client can only try again; the log says what went wrong).
 */
export class CaptchaUnavailable extends GraphQLError {
  constructor() {
    super('The CAPTCHA cannot be checked right now; try again later.', {
      extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'CAPTCHA_UNAVAILABLE' satisfies Reason },
    });
  }
}

export const NO_CAPTCHA: Captcha = { required: false, verify: async () => {} };

/**
 * Both providers speak the same siteverify protocol: a form POST of `secret`, `response` (the
 * token) and `remoteip`, answered with JSON `{ success, "error-codes" }`.
 */
export function createCaptcha(config: Config['captcha'], log: Logger): Captcha {
  if (config === null) return NO_CAPTCHA;
  const { provider, secret, verifyUrl, timeoutMs } = config;
  const unavailable = (why: string): CaptchaUnavailable => {
    log.error({ provider, why }, 'CAPTCHA verification unavailable: refusing the request');
    return new CaptchaUnavailable();
  };
  return {
    required: true,
    async verify(token, ip) {
      if (typeof token !== 'string' || token.length === 0) {
        throw failed('This gateway requires a CAPTCHA: solve it and send its token as captchaToken.');
      }
      if (token.length > TOKEN_MAX) throw failed('The CAPTCHA token is not valid; solve the CAPTCHA again.');
      const form = new URLSearchParams({ secret, response: token });
      if (ip) form.set('remoteip', ip);
      let answer: unknown;
      try {
        const res = await fetch(verifyUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        if (!res.ok) throw unavailable(`siteverify answered HTTP ${res.status}`);
        answer = await res.json().catch(() => {
          throw unavailable('siteverify answered something other than JSON');
        });
      } catch (err) {
        if (err instanceof CaptchaUnavailable) throw err;
        const name = (err as Error)?.name;
        throw unavailable(name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `unreachable (${name})`);
      }
      const success = (answer as { success?: unknown } | null)?.success;
      if (typeof success !== 'boolean') throw unavailable('siteverify answered without a boolean success');
      if (!success) {
        // The provider's own codes (invalid-input-response, timeout-or-duplicate…) help an operator;
        // they carry nothing of the token.
        const codes = (answer as { 'error-codes'?: unknown })['error-codes'];
        log.info({ provider, codes: Array.isArray(codes) ? codes.slice(0, 5).map(String) : [] }, 'CAPTCHA refused');
        throw failed('The CAPTCHA was not solved or has expired; solve it again and send the new token.');
      }
    },
  };
}
