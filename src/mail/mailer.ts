import type { Transporter } from 'nodemailer';
import type { Config } from '../config.js';
import type { OneTimeKind } from '../db/schema.js';
import type { Logger } from '../log.js';
import { type MailKind, type MailVars, render } from './templates.js';

export type Mailer = {
  /**
   * Queues a mail and returns at once: a request never waits on SMTP, whether or not the
   * address has an account.
   */
  send: (kind: MailKind, to: string, vars?: Omit<MailVars, 'email'>) => void;
  /** Resolves when every queued mail was handed to SMTP (or failed); for shutdown and tests. */
  idle: () => Promise<void>;
  close: () => void;
};

/**
 * Mail over SMTP (nodemailer); with no SMTP_URL the mail is dropped with a warning.
 * nodemailer is imported with the first mail, not at start: a gateway that sends none (no
 * SMTP_URL, or an API that only serves tokens) never holds its modules.
 */
export function createMailer(cfg: Config['mail'], smtpUrl: string | undefined, log: Logger): Mailer {
  let transport: Promise<Transporter> | undefined;
  const connect = (url: string) => {
    transport ??= import('nodemailer').then(({ createTransport }) => createTransport(url));
    return transport;
  };
  const pending = new Set<Promise<void>>();
  let closed = false;
  return {
    send(kind, to, vars) {
      const content = render(kind, { ...vars, email: to });
      if (!smtpUrl) {
        // Never the link: it is a credential.
        log.warn({ kind }, 'no SMTP_URL: a mail was not sent');
        return;
      }
      const job = connect(smtpUrl)
        .then((t) =>
          t.sendMail({ from: cfg.from, to, subject: content.subject, text: content.text, html: content.html }),
        )
        .then(
          () => undefined,
          (err: unknown) => log.error({ kind, err: (err as Error).message }, 'mail not sent'),
        )
        .finally(() => pending.delete(job));
      pending.add(job);
    },
    idle: async () => {
      await Promise.all([...pending]);
    },
    close: () => {
      if (closed) return;
      closed = true;
      void transport?.then(
        (t) => t.close(),
        () => {},
      );
    },
  };
}

/** A link to the app page with the token: ?token=…&type=… added to MAIL_LINK_URL. */
export function mailLink(base: string, token: string, kind: OneTimeKind | 'invitation'): string {
  const url = new URL(base);
  url.searchParams.set('token', token);
  url.searchParams.set('type', kind);
  return url.toString();
}
