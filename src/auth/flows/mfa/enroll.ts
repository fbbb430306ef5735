import { randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { mfaFactors } from '../../../db/schema.js';
import { auditStatement } from '../../audit.js';
import {
  hasVerifiedFactor,
  liveSession,
  type MfaCaller,
  type MfaDeps,
  makeRoom,
  mfaAudit,
  requireAal2,
} from './factor-session.js';
import { aadOf } from './keys.js';
import { checkFriendlyName, SECRET_BYTES, TOTP_PARAMS } from './totp.js';

/** A new factor's secret, shown this once: as text, as an otpauth:// URI and as a QR code. */
export type MfaEnrollment = { factorId: string; secret: string; uri: string; qrCode: string };

/**
 * A new, unverified TOTP factor; its secret is shown this once. With a verified factor
 * already, only an aal2 session may add another: else a stolen password would be enough
 * to plant an authenticator of the thief's.
 */
export async function enroll(
  deps: Pick<MfaDeps, 'db' | 'config' | 'keys'>,
  caller: MfaCaller,
  rawName: string | null | undefined,
): Promise<MfaEnrollment> {
  const friendlyName = checkFriendlyName(rawName);
  const secret = new Secret({ size: SECRET_BYTES });
  const factorId = randomUUID();
  const user = await deps.db.transaction(async (tx) => {
    const { session, user } = await liveSession(tx, caller);
    if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
    await makeRoom(tx, caller.userId);
    await Promise.all([
      tx.insert(mfaFactors).values({
        id: factorId,
        userId: caller.userId,
        factorType: 'totp',
        friendlyName,
        status: 'unverified',
        secret: deps.keys.box.seal(Buffer.from(secret.bytes), aadOf(caller.userId, factorId)),
      }),
      auditStatement(tx, mfaAudit(caller, 'mfa.factor_enrolled', { factorId, factorType: 'totp' })),
    ]);
    return user;
  });
  const uri = new TOTP({
    issuer: deps.config.mfaIssuer,
    label: user.email ?? user.id,
    secret,
    ...TOTP_PARAMS,
  }).toString();
  // qrcode (and pngjs behind it) serve enrolment alone: imported on the first one, not at start.
  const { default: QRCode } = await import('qrcode');
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
  return {
    factorId,
    secret: secret.base32,
    uri,
    qrCode: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
  };
}
