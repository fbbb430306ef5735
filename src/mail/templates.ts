import type { OneTimeKind } from '../db/schema.js';

/** Mails with a link (one per one-time kind), and notices that only tell. */
export type NoticeKind = 'email_change_requested' | 'email_changed' | 'password_changed';
export type MailKind = OneTimeKind | NoticeKind | 'invitation';

export type MailContent = { subject: string; text: string; html: string };
export type MailVars = {
  email: string;
  /** The other address of an email change. */
  newEmail?: string;
  link?: string;
  code?: string;
  minutes?: number;
};

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const IGNORE = 'If you did not ask for this, ignore this mail; nothing changes.';
const NOT_YOU = 'If this was not you, reset your password now and sign out every session.';

const COPY: Record<MailKind, { subject: string; lead: string; action?: string; footer?: string }> = {
  confirmation: {
    subject: 'Confirm your email',
    lead: 'Confirm that {email} is your address to finish signing up.',
    action: 'Confirm email',
  },
  recovery: {
    subject: 'Reset your password',
    lead: 'Someone (hopefully you) asked to reset the password of {email}.',
    action: 'Choose a new password',
  },
  magiclink: {
    subject: 'Your sign-in link',
    lead: 'Use this link to sign in as {email}.',
    action: 'Sign in',
  },
  email_change: {
    subject: 'Confirm your new email',
    lead: 'Confirm {email} as the new address of your account.',
    action: 'Confirm new email',
  },
  email_change_current: {
    subject: 'Approve the change of your email',
    lead: 'Someone signed in to your account asked to change its address from {email} to {newEmail}. The change happens only once you approve it here and the new address confirms it.',
    action: 'Approve the change',
    footer: `If you did not ask for this, do not approve it: ${NOT_YOU}`,
  },
  email_change_requested: {
    subject: 'Your email is being changed',
    lead: 'Someone signed in to your account asked to change its address from {email} to {newEmail}. It changes once the new address confirms it.',
    footer: NOT_YOU,
  },
  email_changed: {
    subject: 'Your email was changed',
    lead: 'The address of your account is now {newEmail}; {email} no longer signs in to it.',
    footer: NOT_YOU,
  },
  invitation: {
    subject: 'You are invited to an organization',
    lead: 'You were invited to join an organization as {email}. Sign in with this address (confirmed) and accept.',
    action: 'Accept the invitation',
  },
  password_changed: {
    subject: 'Your password was changed',
    lead: 'The password of your account {email} was changed.',
    footer: NOT_YOU,
  },
};

/** The plain-text and HTML bodies of each mail; addresses, links and codes are the only variables. */
export function render(kind: MailKind, v: MailVars): MailContent {
  const copy = COPY[kind];
  const lead = copy.lead.replace('{email}', v.email).replace('{newEmail}', v.newEmail ?? '');
  const action = copy.action && v.link ? `${copy.action}: ${v.link}` : '';
  const codeLine = v.code ? `Or enter this code: ${v.code}` : '';
  const expiry = v.link
    ? `The link${v.code ? ' and the code' : ''} work once and expire in ${v.minutes ?? 60} minutes.`
    : '';
  const footer = copy.footer ?? (v.link ? IGNORE : '');
  const text = [lead, '', action, codeLine, '', expiry, footer]
    .filter((l, i, all) => l !== '' || (i > 0 && all[i - 1] !== ''))
    .join('\n')
    .trim();
  const button =
    copy.action && v.link
      ? `<p><a href="${escapeHtml(v.link)}" style="display:inline-block;padding:8px 16px;background:#111;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(copy.action)}</a></p>\n`
      : '';
  const html = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; line-height: 1.5">
<p>${escapeHtml(lead)}</p>
${button}${v.code ? `<p>Or enter this code: <strong style="font-size: 1.3em; letter-spacing: 0.2em">${escapeHtml(v.code)}</strong></p>` : ''}
<p style="color:#555">${escapeHtml([expiry, footer].filter(Boolean).join(' '))}</p>
</body></html>`;
  return { subject: copy.subject, text, html };
}
