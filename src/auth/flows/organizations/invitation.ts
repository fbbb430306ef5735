import { mailLink } from '../../../mail/mailer.js';
import type { AuthDeps } from '../../deps.js';
import { hashSecret, randomSecret } from '../../secret.js';

/** How long an invitation works: a week, as people read such mail later than a sign-in link. */
export const INVITATION_TTL_S = 7 * 24 * 3600;

/**
 * A fresh invitation secret: the link's token goes into the mail only, its SHA-256 into
 * public.invitations (the request path's roles cannot select that column back).
 */
export function invitationSecret(): { token: string; tokenHash: string } {
  const token = randomSecret();
  return { token, tokenHash: hashSecret(token) };
}

/** Mails the invitation link to `to` through the gateway's mailer (MAIL_LINK_URL, type=invitation). */
export function mailInvitation(deps: Pick<AuthDeps, 'config' | 'mailer'>, to: string, token: string): void {
  deps.mailer.send('invitation', to, {
    link: mailLink(deps.config.mail.linkUrl, token, 'invitation'),
    minutes: INVITATION_TTL_S / 60,
  });
}
