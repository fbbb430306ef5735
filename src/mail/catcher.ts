import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export type CaughtMail = { to: string[]; from: string; subject: string; text: string; html: string };

export type MailCatcher = {
  port: number;
  url: string;
  messages: CaughtMail[];
  /** The first mail (already caught or still to come) that matches, or an error after `ms`. */
  waitFor: (match: (m: CaughtMail) => boolean, ms?: number) => Promise<CaughtMail>;
  close: () => Promise<void>;
};

/**
 * A local SMTP server that keeps every mail it receives: the development default when no
 * SMTP_URL is set (links printed to the console), and what the tests read links from.
 * Listens on 127.0.0.1 only, with no authentication and no TLS.
 */
export async function startMailCatcher(
  opts: { port?: number; onMail?: (mail: CaughtMail) => void; maxMessages?: number } = {},
): Promise<MailCatcher> {
  const messages: CaughtMail[] = [];
  const waiters = new Set<{ match: (m: CaughtMail) => boolean; resolve: (m: CaughtMail) => void }>();
  const max = opts.maxMessages ?? 1000;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (parsed: ParsedMail) => {
          const to = [parsed.to]
            .flat()
            .flatMap((a) => a?.value ?? [])
            .map((a) => a.address ?? '')
            .filter((a) => a.length > 0);
          const mail: CaughtMail = {
            to,
            from: parsed.from?.text ?? '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
          };
          messages.push(mail);
          if (messages.length > max) messages.shift();
          opts.onMail?.(mail);
          for (const w of waiters) {
            if (w.match(mail)) {
              waiters.delete(w);
              w.resolve(mail);
            }
          }
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor: (match, ms = 5000) => {
      const found = messages.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (m: CaughtMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error('no matching mail arrived in time'));
        }, ms);
        waiters.add(waiter);
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The links in a mail's text body. */
export const linksIn = (mail: CaughtMail): string[] => mail.text.match(/https?:\/\/[^\s<>"]+/g) ?? [];

/** The six-digit codes of a mail's text ("Or enter this code: 123456"), for verifyOtp. */
export const codesIn = (mail: CaughtMail): string[] => [...mail.text.matchAll(/\bcode: (\d{6})\b/g)].map((m) => m[1]!);

/**
 * A caught mail as the local console shows it: who and what, then each link and code on a
 * line of its own, so every flow (links and verifyOtp alike) completes without a mailbox.
 */
export const mailSummary = (mail: CaughtMail): string =>
  [`mail to ${mail.to.join(', ')}: ${mail.subject}`, ...linksIn(mail), ...codesIn(mail).map((c) => `code: ${c}`)].join(
    '\n  ',
  );
