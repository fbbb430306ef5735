import { createHash } from 'node:crypto';
import type { ImportProblem, ImportReport, ImportUser } from '../auth/flows/admin/import-users.js';

/**
 * Reading the exports `authgate users:import` takes: Supabase's auth.users (and
 * auth.identities) as JSON, NDJSON or CSV, and Auth0's user export (NDJSON) with, when
 * Auth0 support sent it, the password hash export. Every row becomes an ImportUser or a
 * problem with its file and line; nothing here touches the database.
 */

export type ExportFile = { name: string; text: string };
export type Read = { rows: ImportUser[]; problems: ImportProblem[]; skipped: { deleted: number; anonymous: number } };
type Row = Record<string, unknown>;
type Located = { at: string; value: Row };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Auth0 ids ("auth0|5f7c…", "google-oauth2|1234") are not UUIDs: each becomes the UUID v5 of
 * the id in this namespace, the same on every run, so a rerun finds the account again and an
 * app can map its own foreign keys with uuid_generate_v5 (see docs/migrating.md).
 */
export const AUTH0_ID_NAMESPACE = '6f1e3c52-8d0b-5a7e-9c4f-2b7d1a0e5c93';

/** RFC 4122 version 5 (SHA-1, name-based) UUID of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest()
    .subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A row that cannot be imported: its message says why, and it is skipped. */
class RowError extends Error {}

/** The records of a file, each with its line: a JSON array, one JSON object a line, or CSV with a header. */
export function readRecords(file: ExportFile): { records: Located[]; problems: ImportProblem[] } {
  const text = file.text.replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  if (first === '[') return readJsonArray(file.name, text);
  if (first === '{') return readNdjson(file.name, text);
  return readCsv(file.name, text);
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function readJsonArray(name: string, text: string): { records: Located[]; problems: ImportProblem[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { records: [], problems: [{ at: name, message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const starts = elementStarts(text);
  const records: Located[] = [];
  const problems: ImportProblem[] = [];
  (parsed as unknown[]).forEach((value, i) => {
    const at = `${name}:${lineAt(text, starts[i] ?? 0)}`;
    if (isRow(value)) records.push({ at, value });
    else problems.push({ at, message: 'not a JSON object' });
  });
  return { records, problems };
}

/** Where each element of a top-level JSON array starts, for line numbers JSON.parse cannot give. */
function elementStarts(text: string): number[] {
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  let expecting = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (depth === 1 && expecting && c !== ']') {
      starts.push(i);
      expecting = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expecting = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expecting = true;
  }
  return starts;
}

function readNdjson(name: string, text: string): { records: Located[]; problems: ImportProblem[] } {
  const records: Located[] = [];
  const problems: ImportProblem[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const at = `${name}:${i + 1}`;
    try {
      const value: unknown = JSON.parse(line);
      if (isRow(value)) records.push({ at, value });
      else problems.push({ at, message: 'not a JSON object' });
    } catch (err) {
      problems.push({ at, message: `not valid JSON: ${(err as Error).message}` });
    }
  });
  return { records, problems };
}

/**
 * CSV as Postgres's COPY … CSV HEADER and Supabase's dashboard write it: quoted fields may
 * hold commas, quotes ("") and line breaks; an empty unquoted field is NULL.
 */
function readCsv(name: string, text: string): { records: Located[]; problems: ImportProblem[] } {
  const rows: Array<{ line: number; fields: Array<string | null> }> = [];
  let fields: Array<string | null> = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  let line = 1;
  let rowLine = 1;
  const endField = () => {
    fields.push(field === '' && !wasQuoted ? null : field);
    field = '';
    wasQuoted = false;
  };
  const endRow = () => {
    endField();
    if (!(fields.length === 1 && fields[0] === null)) rows.push({ line: rowLine, fields });
    fields = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\n') line++;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') endField();
    else if (c === '\n') {
      endRow();
      rowLine = line;
    } else if (c !== '\r') field += c;
  }
  if (field !== '' || wasQuoted || fields.length > 0) endRow();
  const [header, ...data] = rows;
  if (!header) return { records: [], problems: [{ at: name, message: 'empty file' }] };
  const names = header.fields.map((f) => (f ?? '').trim());
  const records: Located[] = [];
  const problems: ImportProblem[] = [];
  for (const r of data) {
    const at = `${name}:${r.line}`;
    if (r.fields.length !== names.length) {
      problems.push({ at, message: `${r.fields.length} fields, the header has ${names.length}` });
      continue;
    }
    records.push({ at, value: Object.fromEntries(names.map((n, i) => [n, r.fields[i]])) });
  }
  return { records, problems };
}

const isRow = (v: unknown): v is Row => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(row: Row, key: string): string | null {
  const v = row[key];
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new RowError(`${key} must be text`);
}

function date(row: Row, key: string): Date | null {
  const v = text(row, key) ?? (isRow(row[key]) ? text(row[key] as Row, '$date') : null);
  if (v === null) return null;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new RowError(`${key} is not a date`);
  return d;
}

/** A JSON object, or JSON text of one (a CSV cell). */
function object(row: Row, key: string): Row {
  let v = row[key];
  if (v === null || v === undefined || v === '') return {};
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new RowError(`${key} is not valid JSON`);
    }
  }
  if (!isRow(v)) throw new RowError(`${key} must be a JSON object`);
  return v;
}

function flag(row: Row, key: string): boolean {
  const v = row[key];
  return v === true || v === 't' || v === 'true' || v === 'TRUE';
}

/** Renames of provider names, from --provider (an export's "google-oauth2" is this gateway's "google"). */
export type ProviderMap = Map<string, string>;

function eachRecord(
  records: Located[],
  problems: ImportProblem[],
  fn: (r: Row, at: string) => ImportUser | 'deleted' | 'anonymous',
): Read {
  const read: Read = { rows: [], problems, skipped: { deleted: 0, anonymous: 0 } };
  for (const { at, value } of records) {
    try {
      const user = fn(value, at);
      if (user === 'deleted' || user === 'anonymous') read.skipped[user]++;
      else read.rows.push(user);
    } catch (err) {
      if (!(err instanceof RowError)) throw err;
      problems.push({ at, message: err.message });
    }
  }
  return read;
}

/**
 * Supabase: rows of auth.users, and of auth.identities when given. Its "email" identities
 * are ours to make again (with the password); deleted and anonymous users are not imported.
 */
export function readSupabase(files: { users: ExportFile; identities?: ExportFile }, providers: ProviderMap): Read {
  const { records, problems } = readRecords(files.users);
  const byUser = new Map<string, ImportUser['identities']>();
  if (files.identities) {
    const ids = readRecords(files.identities);
    problems.push(...ids.problems);
    for (const { at, value } of ids.records) {
      try {
        const userId = text(value, 'user_id');
        const provider = text(value, 'provider');
        // provider_id since 2023; before, the id column held the provider's subject.
        const subject = text(value, 'provider_id') ?? text(value, 'id');
        if (!userId || !provider || !subject) throw new RowError('user_id, provider and provider_id are required');
        if (provider === 'email' || provider === 'phone') continue;
        const list = byUser.get(userId.toLowerCase()) ?? [];
        list.push({
          provider: providers.get(provider) ?? provider,
          providerId: subject,
          identityData: object(value, 'identity_data'),
        });
        byUser.set(userId.toLowerCase(), list);
      } catch (err) {
        if (!(err instanceof RowError)) throw err;
        problems.push({ at, message: err.message });
      }
    }
  }
  return eachRecord(records, problems, (r, at) => {
    const id = text(r, 'id');
    if (!id || !UUID.test(id)) throw new RowError('id must be a UUID');
    if (date(r, 'deleted_at') !== null) return 'deleted';
    if (flag(r, 'is_anonymous')) return 'anonymous';
    return {
      at,
      id: id.toLowerCase(),
      email: text(r, 'email'),
      // Not confirmed_at: it counts a confirmed phone too.
      emailConfirmedAt: date(r, 'email_confirmed_at'),
      passwordHash: text(r, 'encrypted_password'),
      userMetadata: object(r, 'raw_user_meta_data'),
      appMetadata: object(r, 'raw_app_meta_data'),
      createdAt: date(r, 'created_at'),
      lastSignInAt: date(r, 'last_sign_in_at'),
      bannedUntil: date(r, 'banned_until'),
      identities: byUser.get(id.toLowerCase()) ?? [],
    };
  });
}

/** A blocked Auth0 user stays banned: for a hundred years, as `users:ban` does. */
const BLOCKED_HOURS = 876_000;

/**
 * Auth0: its user export (NDJSON, or a JSON array of the bulk-import form), and the
 * password hash export Auth0 support sends on request (NDJSON of _id.$oid, email and
 * passwordHash). A hash in the user file itself (custom_password_hash, passwordHash) counts too.
 */
export function readAuth0(files: { users: ExportFile; passwords?: ExportFile }, providers: ProviderMap): Read {
  const { records, problems } = readRecords(files.users);
  const hashes = new Map<string, string>();
  if (files.passwords) {
    const pw = readRecords(files.passwords);
    problems.push(...pw.problems);
    for (const { at, value } of pw.records) {
      const oid = isRow(value._id) ? value._id.$oid : value._id;
      const hash = value.passwordHash;
      if (typeof hash !== 'string' || (typeof oid !== 'string' && typeof value.email !== 'string')) {
        problems.push({ at, message: 'a password row needs _id (or email) and passwordHash' });
        continue;
      }
      if (typeof oid === 'string') hashes.set(`auth0|${oid}`, hash);
      if (typeof value.email === 'string') hashes.set(`email:${value.email.trim().toLowerCase()}`, hash);
    }
  }
  return eachRecord(records, problems, (r, at) => {
    const userId = text(r, 'user_id') ?? text(r, 'Id');
    if (!userId) throw new RowError('user_id is required');
    const email = text(r, 'email') ?? text(r, 'Email');
    const verified = flag(r, 'email_verified') || flag(r, 'Email Verified');
    const custom = isRow(r.custom_password_hash) ? r.custom_password_hash : null;
    const customHash = custom && isRow(custom.hash) && typeof custom.hash.value === 'string' ? custom.hash.value : null;
    const passwordHash =
      hashes.get(userId) ??
      (email ? hashes.get(`email:${email.trim().toLowerCase()}`) : undefined) ??
      customHash ??
      text(r, 'passwordHash') ??
      text(r, 'password_hash');
    const identities = (Array.isArray(r.identities) ? r.identities : [])
      .filter(isRow)
      .filter((i) => i.provider !== 'auth0' && i.user_id !== undefined)
      .map((i) => {
        const subject = String(i.user_id);
        const profile = isRow(i.profileData) ? i.profileData : {};
        const provider = String(i.provider);
        return {
          provider: providers.get(provider) ?? provider,
          providerId: subject,
          identityData: { ...profile, sub: subject },
        };
      });
    const createdAt = date(r, 'created_at');
    return {
      at,
      id: UUID.test(userId) ? userId.toLowerCase() : uuidV5(AUTH0_ID_NAMESPACE, userId),
      email,
      // Auth0 keeps no time of the proof: the account's creation stands for it.
      emailConfirmedAt: verified && email ? (createdAt ?? new Date()) : null,
      passwordHash,
      userMetadata: object(r, 'user_metadata'),
      appMetadata: object(r, 'app_metadata'),
      createdAt,
      lastSignInAt: date(r, 'last_login'),
      bannedUntil: flag(r, 'blocked') ? new Date(Date.now() + BLOCKED_HOURS * 3_600_000) : null,
      identities,
    };
  });
}

/**
 * The report, one problem a line and the counts; never a hash or a password. `unwritten`
 * says why nothing was written (a dry run, a bad row under --strict), if so.
 */
export function formatReport(read: Read, report: ImportReport, unwritten: string | null): string {
  const lines = [
    ...read.problems.map((p) => `${p.at}: skipped: ${p.message}`),
    ...report.errors.map((p) => `${p.at}: skipped: ${p.message}`),
    ...report.conflicts.map((p) => `${p.at}: conflict, skipped: ${p.message}`),
  ];
  const w = report.withoutPassword;
  const without = w.none + w.unknown_format + w.weak_parameters;
  lines.push(
    `${unwritten ? 'would create' : 'created'} ${report.created}, already present ${report.existing}, conflicts ${report.conflicts.length}, errors ${read.problems.length + report.errors.length}` +
      `, not imported: ${read.skipped.deleted} deleted, ${read.skipped.anonymous} anonymous`,
    `without a password (they sign in with a mailed link or recover): ${without}` +
      ` (no password ${w.none}, unknown hash format ${w.unknown_format}, weak hash ${w.weak_parameters})`,
    `identities of providers not configured here, not imported: ${report.identitiesSkipped}`,
  );
  if (unwritten) lines.push(`${unwritten}: nothing was written`);
  return lines.join('\n');
}
