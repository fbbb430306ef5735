import { createTransport, type Transporter } from 'nodemailer';
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

/** Mail over SMTP (nodemailer); with no SMTP_URL the mail is dropped with a warning. */
export function createMailer(cfg: Config['mail'], smtpUrl: string | undefined, log: Logger): Mailer {
  const transport: Transporter | null = smtpUrl ? createTransport(smtpUrl) : null;
  const pending = new Set<Promise<void>>();
  return {
    send(kind, to, vars) {
      const content = render(kind, { ...vars, email: to });
      if (!transport) {
        // Never the link: it is a credential.
        log.warn({ kind }, 'no SMTP_URL: a mail was not sent');
        return;
      }
      const job = transport
        .sendMail({ from: cfg.from, to, subject: content.subject, text: content.text, html: content.html })
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
    close: () => transport?.close(),
  };
}

/** A link to the app page with the token: ?token=…&type=… added to MAIL_LINK_URL. */
export function mailLink(base: string, token: string, kind: OneTimeKind): string {
  const url = new URL(base);
  url.searchParams.set('token', token);
  url.searchParams.set('type', kind);
  return url.toString();
}
