import type { AuthDeps } from '../../deps.js';
import type { EmailFlows } from '../email/index.js';

/** What the account flows may use: the auth deps, and the email flows that confirm and mail. */
export type AccountDeps = AuthDeps & { email: EmailFlows };

/** The flows that only ask whether addresses must be confirmed before sign-in. */
export type ConfirmDeps = { email: Pick<EmailFlows, 'requireConfirmation'> };
