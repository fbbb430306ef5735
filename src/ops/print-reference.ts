import { readFileSync, writeFileSync } from 'node:fs';
import {
  astFromValue,
  buildSchema,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLNamedType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  print,
} from 'graphql';
import { ERROR_CODES, type ErrorCode, REASONS, type Reason } from '../auth/errors.js';

/**
 * The parts of docs/reference.md that come from code, so they cannot drift from it:
 * test/ops/docs.test.ts fails when the committed file differs from what this prints.
 *
 * The schema is read from the committed schema.graphql rather than built from the Pothos
 * modules: it needs no database and no app, and schema.test.ts already keeps that file equal
 * to the built schema.
 */

const ROOT = new URL('../../', import.meta.url);
export const REFERENCE_FILE = new URL('docs/reference.md', ROOT);

/*
 * When each code and reason is answered. Records over the catalogues' own types, so a code or
 * reason added to src/auth/errors.ts does not compile until it is explained here.
 */
const CODE_NOTES: Record<ErrorCode, string> = {
  BAD_USER_INPUT:
    'an argument breaks an input rule (often with `extensions.field`), or the document does not parse or validate (the original code in `extensions.reason`)',
  WEAK_PASSWORD: 'the new password breaks the password policy',
  EMAIL_TAKEN:
    'another account holds the address; also `exchangeCode` for a new provider identity whose email is an existing account’s',
  USERNAME_TAKEN: 'another profile has the username (ignoring case)',
  INVALID_CREDENTIALS:
    'wrong password or unknown email (one message for both), wrong emailed code, wrong TOTP or recovery code',
  INVALID_REFRESH_TOKEN: 'the refresh token is unknown, expired, or spent and replayed after the reuse interval',
  UNAUTHENTICATED:
    'the access token is bad, expired or revoked, or the field needs a signed-in caller; never downgraded to anon',
  FORBIDDEN: 'signed in, but not allowed (admin fields without the service role, and the reasons below)',
  RATE_LIMITED: 'a rate limit tripped; `extensions.retryAfter` says how many seconds to wait',
};

const REASON_NOTES: Record<Reason, { code: string; when: string }> = {
  AAL2_REQUIRED: {
    code: 'FORBIDDEN',
    when: 'the user has a verified factor and the token or its session is `aal1`: account changes, managing factors',
  },
  EMAIL_NOT_CONFIRMED: {
    code: 'FORBIDDEN',
    when: '`signIn` (with the right password) before the address is confirmed',
  },
  EMAIL_CONFIRMATION_REQUIRED: {
    code: 'FORBIDDEN',
    when: '`signUp` with `REQUIRE_EMAIL_CONFIRMATION=true`; nothing is created, use `register`',
  },
  CAPTCHA_FAILED: {
    code: 'FORBIDDEN',
    when: 'with `CAPTCHA_PROVIDER` set: signUp, register, signIn, signInAnonymously, requestPasswordReset, signInWithOtp or resendConfirmation without a `captchaToken`, or with one the provider refuses; nothing was done',
  },
  ANONYMOUS_DISABLED: { code: 'FORBIDDEN', when: '`signInAnonymously` with `ANONYMOUS_SIGN_IN` off' },
  REAUTHENTICATION_REQUIRED: {
    code: 'FORBIDDEN',
    when: 'a new email or a first password without `currentPassword`, or a passkey registration, without a sign-in within `REAUTH_WINDOW_S`',
  },
  NATIVE_SESSION_REQUIRED: { code: 'FORBIDDEN', when: 'multi-factor fields called with a trusted issuer’s token' },
  IDENTITY_ALREADY_LINKED: {
    code: 'FORBIDDEN',
    when: '`exchangeCode` of a link whose provider identity another user has',
  },
  LAST_IDENTITY: { code: 'FORBIDDEN', when: '`unlinkIdentity` of the caller’s last identity' },
  INVALID_TOKEN: { code: 'BAD_USER_INPUT', when: 'a mailed link’s token that is bad, spent or expired' },
  INVALID_CODE: {
    code: 'BAD_USER_INPUT',
    when: '`exchangeCode` with a bad, spent or expired code, or a wrong verifier',
  },
  UNKNOWN_PROVIDER: { code: 'BAD_USER_INPUT', when: 'a provider name `OIDC_PROVIDERS` does not list' },
  REDIRECT_NOT_ALLOWED: { code: 'BAD_USER_INPUT', when: '`redirect_to` is not one of `OIDC_REDIRECT_URLS`' },
  FACTOR_NOT_FOUND: { code: 'BAD_USER_INPUT', when: 'no such factor of the caller (`extensions.field` `factorId`)' },
  FACTOR_ALREADY_VERIFIED: { code: 'BAD_USER_INPUT', when: '`mfaActivate` of an active factor (use `mfaVerify`)' },
  FACTOR_NOT_VERIFIED: {
    code: 'BAD_USER_INPUT',
    when: '`mfaVerify` of a factor not yet activated (use `mfaActivate`)',
  },
  NO_VERIFIED_FACTOR: {
    code: 'BAD_USER_INPUT',
    when: '`mfaRegenerateRecoveryCodes` without an active factor; `passkeyVerifyOptions` without a passkey',
  },
  TOO_MANY_FACTORS: {
    code: 'BAD_USER_INPUT',
    when: '`mfaEnroll` or `passkeyRegistrationOptions` when the user already has the most factors (10) or passkeys (20) allowed',
  },
  PERSISTED_DOCUMENT_NOT_FOUND: {
    code: 'BAD_USER_INPUT',
    when: 'a document id the gateway’s `TRUSTED_DOCUMENTS` manifests do not hold',
  },
  PERSISTED_DOCUMENT_REQUIRED: {
    code: 'FORBIDDEN / BAD_USER_INPUT',
    when: 'document text sent with `TRUSTED_DOCUMENTS_ONLY=true` (`FORBIDDEN`); neither text nor id (`BAD_USER_INPUT`)',
  },
  ACCESS_TOKEN_HOOK_FAILED: {
    code: 'SERVICE_UNAVAILABLE',
    when: 'a sign-in, refresh or other grant whose `ACCESS_TOKEN_HOOK` raised, timed out or returned claims it may not; nothing was issued, the log says why',
  },
  PASSKEY_INVALID: {
    code: 'INVALID_CREDENTIALS / BAD_USER_INPUT',
    when: 'a passkey answer that does not verify: wrong challenge or origin, no user verification, unknown or another user’s passkey, counter gone back (`signInWithPasskey`, `verifyPasskey`: `INVALID_CREDENTIALS`; `registerPasskey`: `BAD_USER_INPUT`)',
  },
  PASSKEY_NOT_FOUND: { code: 'BAD_USER_INPUT', when: 'no such passkey of the caller (`extensions.field` `id`)' },
  PASSKEY_ALREADY_REGISTERED: {
    code: 'BAD_USER_INPUT',
    when: '`registerPasskey` of a credential that is registered already',
  },
  CHALLENGE_EXPIRED: {
    code: 'BAD_USER_INPUT',
    when: 'a passkey answer whose options expired (5 minutes), were answered once already, or were never asked for by this session or flow',
  },
  CAPTCHA_UNAVAILABLE: {
    code: 'SERVICE_UNAVAILABLE',
    when: "the CAPTCHA provider's siteverify did not answer in `CAPTCHA_TIMEOUT_MS`, failed, or answered malformed: the request is refused (fails closed), the log says why",
  },
  ORGANIZATION_ROLE_REQUIRED: {
    code: 'FORBIDDEN',
    when: 'an organisation change the row level security policies refused: the caller is not a member, or lacks the role (owner, admin) it needs; also for an organisation the caller cannot see',
  },
  LAST_OWNER: {
    code: 'FORBIDDEN',
    when: 'the last owner of an organisation tried to leave, or was demoted or removed: an organisation always keeps an owner',
  },
  SLUG_TAKEN: {
    code: 'BAD_USER_INPUT',
    when: 'createOrganization or updateOrganization with a slug another organisation has',
  },
  INVITATION_INVALID: {
    code: 'BAD_USER_INPUT',
    when: 'acceptInvitation with a token that is unknown, already used, expired or revoked (one answer for all); revokeInvitation of no open invitation',
  },
  INVITATION_EMAIL_MISMATCH: {
    code: 'FORBIDDEN',
    when: 'acceptInvitation by a user whose confirmed email is not the invited address (or who has no confirmed email)',
  },
};

/** A table cell: one line, pipes escaped. */
const cell = (text: string | null | undefined): string => (text ?? '').replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

/** Prose from the schema's descriptions: `<name>` would be read as an HTML tag. */
const prose = (text: string | null | undefined): string => cell(text).replace(/</g, '&lt;').replace(/>/g, '&gt;');

const code = (text: string): string => `\`${text}\``;

/** `name: Type = default`, the default printed as SDL (`LOCAL`, not `"LOCAL"`). */
function argument(a: GraphQLArgument | GraphQLInputField): string {
  const ast = a.defaultValue === undefined ? undefined : astFromValue(a.defaultValue, a.type);
  return `${a.name}: ${String(a.type)}${ast ? ` = ${print(ast)}` : ''}`;
}

function fieldTable(fields: readonly GraphQLField<unknown, unknown>[]): string[] {
  const rows = ['| field | arguments | returns | description |', '| --- | --- | --- | --- |'];
  for (const f of fields) {
    const args = f.args.map((a) => code(argument(a))).join(', ');
    const argNotes = f.args.filter((a) => a.description).map((a) => `\`${a.name}\`: ${a.description}`);
    const description = [f.description, ...argNotes, f.deprecationReason && `Deprecated: ${f.deprecationReason}`]
      .filter(Boolean)
      .join(' ');
    rows.push(`| ${code(f.name)} | ${cell(args)} | ${cell(code(String(f.type)))} | ${prose(description)} |`);
  }
  return rows;
}

function typeSection(type: GraphQLNamedType): string[] {
  const lines = [`### ${type.name}`, ''];
  if (type.description) lines.push(prose(type.description), '');
  if (isEnumType(type)) {
    lines.push('| value | description |', '| --- | --- |');
    for (const v of type.getValues()) lines.push(`| ${code(v.name)} | ${prose(v.description)} |`);
  } else if (isInputObjectType(type) || isObjectType(type)) {
    lines.push('| field | type | description |', '| --- | --- | --- |');
    for (const f of Object.values(type.getFields())) {
      const args = 'args' in f && f.args.length ? `(${f.args.map(argument).join(', ')})` : '';
      lines.push(`| ${code(f.name + args)} | ${code(String(f.type))} | ${prose(f.description)} |`);
    }
  }
  lines.push('');
  return lines;
}

/** Queries, mutations, then every named type of the schema by kind, in schema order. */
export function schemaSection(schema: GraphQLSchema): string {
  const lines: string[] = [];
  for (const [title, root] of [
    ['Queries', schema.getQueryType()],
    ['Mutations', schema.getMutationType()],
  ] as const) {
    if (!root) continue;
    lines.push(`## ${title}`, '', ...fieldTable(Object.values(root.getFields())), '');
  }
  const named = Object.values(schema.getTypeMap()).filter(
    (t) =>
      !t.name.startsWith('__') &&
      !isSpecifiedScalarType(t) &&
      t !== schema.getQueryType() &&
      t !== schema.getMutationType(),
  );
  for (const [title, keep] of [
    ['Input types', isInputObjectType],
    ['Enums', isEnumType],
    ['Object types', isObjectType],
    ['Scalars', isScalarType],
  ] as const) {
    const types = named.filter((t) => keep(t));
    if (!types.length) continue;
    lines.push(`## ${title}`, '');
    for (const t of types) lines.push(...typeSection(t));
  }
  return lines.join('\n').trimEnd();
}

export function errorsSection(): string {
  const lines = ['| `extensions.code` | when |', '| --- | --- |'];
  for (const c of ERROR_CODES) lines.push(`| ${code(c)} | ${cell(CODE_NOTES[c])} |`);
  lines.push('', '| `extensions.reason` | with code | when |', '| --- | --- | --- |');
  for (const r of REASONS) lines.push(`| ${code(r)} | ${REASON_NOTES[r].code} | ${cell(REASON_NOTES[r].when)} |`);
  return lines.join('\n');
}

/** Each generated section by its marker name: `<!-- generated:NAME -->` … `<!-- /generated:NAME -->`. */
export function generatedSections(): Record<string, string> {
  const schema = buildSchema(readFileSync(new URL('schema.graphql', ROOT), 'utf8'));
  return { schema: schemaSection(schema), errors: errorsSection() };
}

const MARKERS = /(<!-- generated:([a-z]+) -->)[\s\S]*?(<!-- \/generated:\2 -->)/g;

/** The reference with every marked section replaced by what the code says now. */
export function renderReference(current: string, sections = generatedSections()): string {
  return current.replace(MARKERS, (whole, open: string, name: string, close: string) => {
    const body = sections[name];
    return body === undefined ? whole : `${open}\n\n${body}\n\n${close}`;
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const current = readFileSync(REFERENCE_FILE, 'utf8');
  writeFileSync(REFERENCE_FILE, renderReference(current));
  console.log('wrote docs/reference.md');
}
