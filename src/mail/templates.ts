import type { OneTimeKind } from '../db/schema.js';

export type MailContent = { subject: string; text: string; html: string };
export type MailVars = { link: string; code?: string; minutes: number; email: string };

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COPY: Record<OneTimeKind, { subject: string; lead: string; action: string }> = {
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
};

/** The plain-text and HTML bodies of each mail; links and codes are the only variables. */
export function render(kind: OneTimeKind, v: MailVars): MailContent {
  const copy = COPY[kind];
  const lead = copy.lead.replace('{email}', v.email);
  const codeLine = v.code ? `Or enter this code: ${v.code}` : '';
  const expiry = `The link${v.code ? ' and the code' : ''} work once and expire in ${v.minutes} minutes.`;
  const ignore = 'If you did not ask for this, ignore this mail; nothing changes.';
  const text = [lead, '', `${copy.action}: ${v.link}`, codeLine, '', expiry, ignore]
    .filter((l, i, all) => l !== '' || all[i - 1] !== '')
    .join('\n');
  const html = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; line-height: 1.5">
<p>${escapeHtml(lead)}</p>
<p><a href="${escapeHtml(v.link)}" style="display:inline-block;padding:8px 16px;background:#111;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(copy.action)}</a></p>
${v.code ? `<p>Or enter this code: <strong style="font-size: 1.3em; letter-spacing: 0.2em">${escapeHtml(v.code)}</strong></p>` : ''}
<p style="color:#555">${escapeHtml(expiry)} ${escapeHtml(ignore)}</p>
</body></html>`;
  return { subject: copy.subject, text, html };
}
