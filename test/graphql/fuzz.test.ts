import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/auth/errors.js';
import { PASSWORD, REFRESH, SIGN_IN, SIGN_UP, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * Property-based fuzzing of one running gateway over real HTTP: documents built from the
 * schema's own fields with hostile argument values, broken documents and bodies, random
 * variables and random Authorization headers. Every response must be < 500, JSON, carry
 * only contract codes, and leak no stack, SQL or driver text; afterwards the database must
 * still pair every user with one profile.
 *
 * A failure prints fast-check's seed, path and shrunk counterexample. Knobs: FUZZ_SCALE=n (n times
 * the runs and time), FUZZ_SEED/FUZZ_PATH (replay, with `-t` naming the property), FUZZ_STATS=1|2
 * (outcome histogram, 2 with messages, to see how far generated requests get).
 */

let t: TestGateway;

const CONTRACT_CODES = new Set<string>(ERROR_CODES);

/** Text that must never reach a client. */
const LEAKS: Array<[string, RegExp]> = [
  ['stack trace', /at [^"\n]*?\([^"\n()]*:\d+:\d+\)/],
  ['node_modules path', /node_modules/],
  ['source path', /\/work\//],
  ['TypeScript source location', /\.ts:/],
  ['SQL select', /\bselect\s/i],
  ['SQL insert', /insert into/i],
  ['Postgres syntax error', /syntax error at or near/i],
  ['Postgres relation', /relation "/i],
  ['driver error', /PostgresError|DrizzleQueryError|Failed query/],
];

/** Generated strings never contain leak text themselves, so an echo is never mistaken for a leak. */
const clean = (s: string): boolean => !LEAKS.some(([, re]) => re.test(s));

// ---------------------------------------------------------------------------------------------
// Real values, filled in beforeAll, so the fuzzer also reaches the paths behind a valid token.

type Real = {
  email: string;
  accessToken: string;
  refreshToken: string;
  userId: string;
  sessionId: string;
  username: string;
  service: string;
  cursor: string;
};
let real: Real;
/** The user whose token FRESH headers carry; replaced when the fuzzer deletes, bans or re-passwords it. */
let current = { email: '', password: PASSWORD };

async function freshToken(): Promise<string> {
  const res = await t.gql(SIGN_IN, { input: current });
  if (res.data?.signIn) return res.data.signIn.accessToken as string;
  const s = await signUp(t);
  current = { email: s.email, password: PASSWORD };
  return s.accessToken;
}

// ---------------------------------------------------------------------------------------------
// Values. Enum, Raw and Deep print differently as GraphQL literals and as JSON variables.

class Enum {
  constructor(readonly v: string) {}
  toJSON(): string {
    return this.v;
  }
  [fc.toStringMethod](): string {
    return `Enum(${this.v})`;
  }
}
/** Number text that JavaScript cannot hold exactly (out-of-range ints, exotic floats). */
class Raw {
  constructor(readonly v: string) {}
  toJSON(): number {
    return Number(this.v);
  }
  [fc.toStringMethod](): string {
    return `Raw(${this.v})`;
  }
}
/** JSON nested n levels deep: written into the body as text, as no stringify would survive it. */
class Deep {
  constructor(
    readonly n: number,
    readonly obj: boolean,
  ) {}
  toJSON(): string {
    return `@@DEEP:${this.obj ? 'o' : 'a'}:${this.n}@@`;
  }
  text(): string {
    return this.obj ? `${'{"a":'.repeat(this.n)}1${'}'.repeat(this.n)}` : `${'['.repeat(this.n)}1${']'.repeat(this.n)}`;
  }
  [fc.toStringMethod](): string {
    return `Deep(${this.n}, ${this.obj ? 'objects' : 'arrays'})`;
  }
}

const expandDeep = (json: string): string =>
  json.replace(/"@@DEEP:([ao]):(\d+)@@"/g, (_m, kind: string, n: string) => new Deep(Number(n), kind === 'o').text());

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof Enum || v instanceof Raw) return v.v;
  if (v instanceof Deep) {
    const n = Math.min(v.n, 400);
    return v.obj ? `${'{a: '.repeat(n)}1${'}'.repeat(n)}` : `${'['.repeat(n)}1${']'.repeat(n)}`;
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}: ${literal(x)}`)
    .join(', ')}}`;
}

const META = `' " ; -- /* */ \\ %_ $1 ) OR 1=1`;
const INTERESTING = [
  '',
  ' ',
  META,
  "' OR 1=1 --",
  "'; DROP TABLE auth.users; --",
  '*/ OR 1=1 /*',
  '%',
  '_',
  '\\',
  '$1',
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDFFF',
  '\uFFFF',
  '👩‍👩‍👧‍👦',
  'مرحبا \u202Eevil',
  'e\u0301\u0327',
  '\u200B',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '{"a":1}',
  '1e999',
  '-0',
  'NaN',
  '00000000-0000-0000-0000-000000000000',
  'javascript:alert(1)',
  'https://example.com/',
  'http://[::1]:80/',
];

/** `arb` once in `n` draws, null otherwise (fc.option's freq is the other way round). */
const rarely = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Any single UTF-16 unit, lone surrogates and NUL included. */
const anyUnit = fc.nat({ max: 0xffff }).map((n) => String.fromCharCode(n));

function arbitraries(r: Real) {
  const realStrings = [
    PASSWORD,
    r.email,
    r.email.toUpperCase(),
    r.accessToken,
    r.refreshToken,
    r.userId,
    r.sessionId,
    r.username,
    r.cursor,
    r.service,
  ];
  const huge = fc
    .tuple(fc.constantFrom(255, 1025, 2049, 16_385, 40_000), fc.constantFrom('x', 'é', '😀', "'"))
    .map(([n, c]) => c.repeat(n));
  const dateText = fc.oneof(
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.integer().map(String),
    fc.constantFrom(
      'Tue 1',
      'March 7 2020',
      '2024-01-01',
      '1970-01-01T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '-000001-01-01T00:00:00Z',
      '+275760-09-13T00:00:00.000Z',
      '-271821-04-20T00:00:00.000Z',
      '2024-02-30T25:61:00Z',
      '2024-01-01T00:00:00Z\u0000',
    ),
    fc.string({ maxLength: 12 }),
  );
  const cursor = fc.oneof(
    fc.constant(r.cursor),
    fc
      .tuple(dateText, fc.oneof(fc.uuid(), fc.constant(r.userId), fc.string({ maxLength: 8 })))
      .map(([d, id]) => Buffer.from(JSON.stringify([d, id])).toString('base64url')),
    fc.base64String({ maxLength: 60 }),
  );
  // Mostly valid, so that the other arguments of a field get past validation and reach the database.
  const emailArb = fc.oneof(
    { weight: 5, arbitrary: fc.uuid().map((u) => `fz${u.slice(0, 8)}${u.slice(9, 13)}@example.com`) },
    { weight: 1, arbitrary: fc.emailAddress() },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        r.email,
        r.email.toUpperCase(),
        ` ${r.email} `,
        `${r.email}\u0000`,
        'a\uD800@example.com',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: anyUnit, maxLength: 8 }).map((s) => `a${s}@example.com`) },
  );
  const usernameArb = fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_]{3,32}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_]{0,40}$/) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(r.username, r.username.toUpperCase(), 'jösé', 'аdmin', '___', "' OR 1=1 --"),
    },
  );
  const urlArb = fc.oneof(
    { weight: 4, arbitrary: fc.webUrl() },
    { weight: 1, arbitrary: fc.webUrl().map((u) => `${u}?q=${META}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'javascript:alert(1)',
        'ftp://x',
        'https://a.example/\u0000',
        'https://a.example/\uD800',
      ),
    },
  );
  const str: fc.Arbitrary<string> = fc
    .oneof(
      { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
      { weight: 2, arbitrary: fc.string({ unit: anyUnit, maxLength: 12 }) },
      { weight: 4, arbitrary: fc.constantFrom(...INTERESTING) },
      { weight: 1, arbitrary: huge },
      { weight: 2, arbitrary: emailArb },
      { weight: 2, arbitrary: fc.constantFrom(...realStrings) },
      { weight: 1, arbitrary: cursor },
      { weight: 1, arbitrary: dateText },
      { weight: 1, arbitrary: usernameArb },
      { weight: 1, arbitrary: urlArb },
    )
    .filter(clean);
  const password = fc.oneof(
    { weight: 4, arbitrary: fc.constant(PASSWORD) },
    { weight: 2, arbitrary: str },
    { weight: 1, arbitrary: fc.constantFrom('1234567', '12345678', 'p'.repeat(1024), 'p'.repeat(1025)) },
  );
  const intArb: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -3, max: 110 }) },
    fc.integer(),
    fc.double(),
    fc.constantFrom(
      new Raw('2147483648'),
      new Raw('-2147483649'),
      new Raw('99999999999999999999'),
      new Raw('1e400'),
      new Raw('-0'),
      new Raw('0.5'),
    ),
  );
  const id = fc.oneof(fc.uuid(), fc.constantFrom(r.userId, r.sessionId, r.userId.toUpperCase()), str, fc.integer());
  const keyArb = fc
    .oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('username', 'full_name', 'website', 'avatar_url', '__proto__', META, '\u0000', '\uD800'),
    )
    .filter(clean);
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      str,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
    ),
  })).value;
  const deep = fc.tuple(fc.integer({ min: 50, max: 7000 }), fc.boolean()).map(([n, o]) => new Deep(n, o));
  const jsonObject: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(keyArb, json, { maxKeys: 5 }) },
    {
      weight: 3,
      arbitrary: fc.record(
        { username: usernameArb, full_name: str, avatar_url: urlArb, website: urlArb },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: deep.map((d) => ({ d })) },
    { weight: 1, arbitrary: fc.integer({ min: 16_370, max: 16_400 }).map((n) => ({ k: 'x'.repeat(n - 8) })) },
    { weight: 1, arbitrary: json },
  );
  const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 3 },
      str,
      intArb,
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(new Enum('LOCAL'), new Enum('GLOBAL'), new Enum('NOPE'), new Enum('true')),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.stringMatching(/^[a-zA-Z_]\w{0,6}$/), tie('value'), { maxKeys: 3 }),
    ),
  })).value;
  /** An input object: each field left out, typed, null or anything; sometimes a field the type lacks. */
  const input = (fields: Record<string, fc.Arbitrary<unknown>>) =>
    fc
      .tuple(
        fc.record(
          Object.fromEntries(
            Object.entries(fields).map(([k, a]) => [
              k,
              fc.oneof(
                { weight: 20, arbitrary: a },
                { weight: 1, arbitrary: fc.constant(null) },
                { weight: 1, arbitrary: anyValue },
              ),
            ]),
          ),
          { requiredKeys: [] },
        ),
        rarely(fc.tuple(fc.stringMatching(/^[a-z]\w{0,6}$/), anyValue), 30),
      )
      .map(([o, extra]) => (extra ? { ...o, [extra[0]]: extra[1] } : o));

  const TYPED: Record<string, fc.Arbitrary<unknown>> = {
    Int: intArb,
    String: str,
    Cursor: cursor,
    Email: emailArb,
    Username: usernameArb,
    Password: password,
    ID: id,
    Boolean: fc.boolean(),
    JSON: jsonObject,
    DateTime: dateText,
    SignOutScope: fc.constantFrom(new Enum('LOCAL'), new Enum('GLOBAL'), new Enum('OTHERS'), new Enum('ALL')),
    SignUpInput: input({ email: emailArb, password, data: jsonObject }),
    SignInInput: input({ email: emailArb, password }),
    UpdateProfileInput: input({
      username: usernameArb,
      fullName: str,
      avatarUrl: urlArb,
      website: urlArb,
      isPublic: fc.boolean(),
    }),
    UpdateUserInput: input({ email: emailArb, password, currentPassword: password, data: jsonObject }),
    AdminUpdateUserInput: input({ appMetadata: jsonObject, bannedUntil: dateText, emailConfirmed: fc.boolean() }),
  };
  return { str, json, anyValue, TYPED, cursor, deep };
}

// ---------------------------------------------------------------------------------------------
// The schema, as far as the fuzzer needs it.

/** Object types: field -> object type of the field, or null for a leaf. */
const TYPES: Record<string, Record<string, string | null>> = {
  User: {
    id: null,
    email: null,
    role: null,
    createdAt: null,
    lastSignInAt: null,
    userMetadata: null,
    appMetadata: null,
    profile: 'Profile',
  },
  Profile: {
    id: null,
    username: null,
    fullName: null,
    avatarUrl: null,
    website: null,
    isPublic: null,
    createdAt: null,
    updatedAt: null,
  },
  AuthPayload: {
    accessToken: null,
    refreshToken: null,
    tokenType: null,
    expiresIn: null,
    expiresAt: null,
    user: 'User',
  },
  ProfileConnection: { edges: 'ProfileEdge', pageInfo: 'PageInfo' },
  ProfileEdge: { cursor: null, node: 'Profile' },
  UserConnection: { edges: 'UserEdge', pageInfo: 'PageInfo' },
  UserEdge: { cursor: null, node: 'User' },
  PageInfo: { hasNextPage: null, hasPreviousPage: null, startCursor: null, endCursor: null },
  Session: { id: null, createdAt: null, updatedAt: null, lastActiveAt: null, userAgent: null, ip: null, current: null },
};

/** Root fields: arguments as [GraphQL type, generator kind], and the object type returned (null: scalar). */
type Root = { op: 'query' | 'mutation'; name: string; args: Record<string, [string, string]>; type: string | null };
const ROOTS: Root[] = [
  { op: 'query', name: 'me', args: {}, type: 'User' },
  {
    op: 'query',
    name: 'profiles',
    args: { first: ['Int', 'Int'], after: ['String', 'Cursor'] },
    type: 'ProfileConnection',
  },
  { op: 'query', name: 'profile', args: { id: ['ID', 'ID'], username: ['String', 'Username'] }, type: 'Profile' },
  { op: 'query', name: 'sessions', args: {}, type: 'Session' },
  {
    op: 'query',
    name: 'users',
    args: { first: ['Int', 'Int'], after: ['String', 'Cursor'], search: ['String', 'String'] },
    type: 'UserConnection',
  },
  { op: 'query', name: 'user', args: { id: ['ID!', 'ID'] }, type: 'User' },
  { op: 'mutation', name: 'signUp', args: { input: ['SignUpInput!', 'SignUpInput'] }, type: 'AuthPayload' },
  { op: 'mutation', name: 'signIn', args: { input: ['SignInInput!', 'SignInInput'] }, type: 'AuthPayload' },
  { op: 'mutation', name: 'refresh', args: { refreshToken: ['String!', 'String'] }, type: 'AuthPayload' },
  { op: 'mutation', name: 'signOut', args: { scope: ['SignOutScope', 'SignOutScope'] }, type: null },
  {
    op: 'mutation',
    name: 'updateProfile',
    args: { input: ['UpdateProfileInput!', 'UpdateProfileInput'] },
    type: 'Profile',
  },
  { op: 'mutation', name: 'updateUser', args: { input: ['UpdateUserInput!', 'UpdateUserInput'] }, type: 'User' },
  { op: 'mutation', name: 'revokeSession', args: { id: ['ID!', 'ID'] }, type: null },
  { op: 'mutation', name: 'deleteAccount', args: { password: ['String!', 'Password'] }, type: null },
  {
    op: 'mutation',
    name: 'adminUpdateUser',
    args: { id: ['ID!', 'ID'], input: ['AdminUpdateUserInput!', 'AdminUpdateUserInput'] },
    type: 'User',
  },
  { op: 'mutation', name: 'adminDeleteUser', args: { id: ['ID!', 'ID'] }, type: null },
  { op: 'mutation', name: 'adminSignOut', args: { userId: ['ID!', 'ID'] }, type: null },
];
const VAR_TYPES = [
  'String',
  'String!',
  'Int',
  'Int!',
  'ID',
  'ID!',
  'Boolean',
  'JSON',
  '[String]',
  'SignUpInput!',
  'Nope',
];

const nameArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,7}$/);
/** Mostly distinct names; now and then one that collides with a field or another alias. */
const aliasArb = fc.oneof(
  { weight: 6, arbitrary: nameArb },
  { weight: 1, arbitrary: fc.constantFrom('a', 'me', 'signUp', 'id', '__a') },
);

const selections = new Map<string, fc.Arbitrary<string>>();
/** A selection set of `type`: real fields (aliased, nested) and now and then a wrong one. */
function selection(type: string): fc.Arbitrary<string> {
  const cached = selections.get(type);
  if (cached) return cached;
  const fields = Object.entries(TYPES[type]!).map(([field, sub]) =>
    fc
      .tuple(rarely(aliasArb, 12), sub ? selection(sub) : fc.constant(''))
      .map(([alias, s]) => `${alias ? `${alias}: ` : ''}${field}${s ? ` ${s}` : ''}`),
  );
  const odd = fc.oneof(
    fc.constant('__typename'),
    nameArb.filter((n) => !(n in TYPES[type]!)),
    fc.constant(`... on ${type} { __typename }`),
    fc.constant(`id @include(if: false)`),
    fc.constant('id { id }'),
    fc.integer({ min: 1, max: 12 }).map((n) => `${'x { '.repeat(n)}id${' }'.repeat(n)}`),
  );
  const arb = fc
    .array(fc.oneof({ weight: 40, arbitrary: fc.oneof(...fields) }, { weight: 1, arbitrary: odd }), {
      minLength: 1,
      maxLength: 5,
    })
    .map((xs) => `{ ${xs.join(' ')} }`);
  selections.set(type, arb);
  return arb;
}

type Arg = { name: string; type: string; mode: 'inline' | 'var' | 'omit'; value: unknown; varType: string };
type Field = { root: Root; alias: string | null; args: Arg[]; sel: string };
type Doc = { fields: Field[]; kind: 'auto' | 'query' | 'mutation' | 'subscription' | 'shorthand'; name: string | null };

function fieldArb(a: ReturnType<typeof arbitraries>): fc.Arbitrary<Field> {
  return fc.oneof(
    ...ROOTS.map((root) =>
      fc.record({
        root: fc.constant(root),
        alias: rarely(aliasArb, 5),
        args: fc.tuple(
          ...Object.entries(root.args).map(([name, [type, kind]]) =>
            fc.record({
              name: fc.constant(name),
              type: fc.constant(type),
              mode: type.endsWith('!')
                ? fc.oneof(
                    { weight: 20, arbitrary: fc.constantFrom<Arg['mode']>('inline', 'var', 'var') },
                    { weight: 1, arbitrary: fc.constant<Arg['mode']>('omit') },
                  )
                : fc.constantFrom<Arg['mode']>('inline', 'var', 'var', 'omit'),
              value: fc.oneof({ weight: 20, arbitrary: a.TYPED[kind]! }, { weight: 1, arbitrary: a.anyValue }),
              varType: fc.oneof(
                { weight: 30, arbitrary: fc.constant(type) },
                { weight: 1, arbitrary: fc.constantFrom(...VAR_TYPES) },
              ),
            }),
          ),
        ),
        sel: root.type
          ? fc.oneof({ weight: 30, arbitrary: selection(root.type) }, { weight: 1, arbitrary: fc.constant('') })
          : fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constant('{ id }') }),
      }),
    ),
  );
}

/** Prints a document: inline arguments as literals, the others as variables. */
function printDoc(doc: Doc): { query: string; variables: Record<string, unknown> } {
  const defs: string[] = [];
  const variables: Record<string, unknown> = {};
  const parts = doc.fields.map((f) => {
    const args = f.args
      .filter((arg) => arg.mode !== 'omit')
      .map((arg) => {
        if (arg.mode === 'inline') return `${arg.name}: ${literal(arg.value)}`;
        const v = `v${defs.length}`;
        defs.push(`$${v}: ${arg.varType}`);
        variables[v] = arg.value;
        return `${arg.name}: $${v}`;
      });
    return `${f.alias ? `${f.alias}: ` : ''}${f.root.name}${args.length ? `(${args.join(', ')})` : ''}${f.sel ? ` ${f.sel}` : ''}`;
  });
  const body = `{ ${parts.join(' ')} }`;
  if (doc.kind === 'shorthand') return { query: body, variables };
  const kind = doc.kind === 'auto' ? doc.fields[0]!.root.op : doc.kind;
  return {
    query: `${kind}${doc.name ? ` ${doc.name}` : ''}${defs.length ? `(${defs.join(', ')})` : ''} ${body}`,
    variables,
  };
}

// ---------------------------------------------------------------------------------------------
// Authorization headers. Placeholders are resolved when the request is sent.

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const headerChars = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
    .map((n) => String.fromCharCode(n)),
  maxLength: 60,
});
const authArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 4,
    arbitrary: fc.constantFrom('Bearer {{FRESH}}', 'bearer   {{FRESH}}', 'Bearer {{STALE}}', 'Bearer {{SERVICE}}'),
  },
  { weight: 1, arbitrary: fc.nat({ max: 400 }).map((n) => `Bearer {{FRESH|cut=${n}}}`) },
  { weight: 1, arbitrary: fc.nat({ max: 400 }).map((n) => `Bearer {{FRESH|flip=${n}}}`) },
  { weight: 1, arbitrary: fc.constantFrom('Bearer {{FRESH|alg=none}}', 'Bearer {{FRESH|payload=service}}') },
  { weight: 2, arbitrary: headerChars.map((s) => `Bearer ${s}`) },
  { weight: 1, arbitrary: headerChars },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'Bearer',
      'Basic dXNlcjpwYXNz',
      'Bearer a.b.c',
      'Bearer ...',
      `Bearer ${b64({ alg: 'none' })}.${b64({ role: 'service_role', iss: 'authgate' })}.`,
      `Bearer ${'a'.repeat(9000)}`,
      `Bearer ${b64({ alg: 'ES256', kid: 'x'.repeat(200) })}.${b64({})}.sig`,
      'Bearer {{FRESH}} extra',
      'Bearer {{FRESH}},Bearer {{FRESH}}',
    ),
  },
);

/** For properties that want to get past authentication most of the time. */
const mostlyValidAuth = fc.oneof(
  { weight: 6, arbitrary: fc.constant('Bearer {{FRESH}}') },
  { weight: 2, arbitrary: fc.constant('Bearer {{SERVICE}}') },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: authArb },
);

async function resolveAuth(auth: string | undefined): Promise<string | undefined> {
  if (auth === undefined) return undefined;
  let out = auth;
  for (const m of auth.matchAll(/\{\{(FRESH|STALE|SERVICE)(?:\|(\w+)=(\w+))?\}\}/g)) {
    const [marker, kind, op, arg] = m;
    let tok = kind === 'STALE' ? real.accessToken : kind === 'SERVICE' ? real.service : await freshToken();
    if (op === 'cut') tok = tok.slice(0, Number(arg) % tok.length);
    if (op === 'flip') {
      const i = Number(arg) % tok.length;
      tok = `${tok.slice(0, i)}${tok[i] === 'A' ? 'B' : 'A'}${tok.slice(i + 1)}`;
    }
    if (op === 'alg') tok = `${b64({ alg: 'none', typ: 'JWT' })}.${tok.split('.')[1]}.`;
    if (op === 'payload') {
      const [h, p, s] = tok.split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      tok = `${h}.${b64({ ...claims, role: 'service_role', sub: undefined })}.${s}`;
    }
    out = out.replace(marker!, tok);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sending and the invariants every response must hold.

type Req = { body: string; auth?: string | undefined; contentType?: string };
type Res = { status: number; text: string; json: any; sentAuth: string | undefined };

async function send(req: Req): Promise<Res> {
  const sentAuth = await resolveAuth(req.auth);
  const res = await fetch(t.url, {
    method: 'POST',
    headers: {
      ...(req.contentType === '' ? {} : { 'content-type': req.contentType ?? 'application/json' }),
      ...(sentAuth !== undefined ? { authorization: sentAuth } : {}),
    },
    body: req.body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, sentAuth };
}

const jsonBody = (o: { query?: unknown; variables?: unknown; operationName?: unknown }): string =>
  expandDeep(JSON.stringify(o));

/** Outcomes per label, printed with FUZZ_STATS=1 to see how deep the generated requests get. */
const stats = new Map<string, number>();
function record(label: string, res: Res): void {
  if (!process.env.FUZZ_STATS) return;
  const codes = Array.isArray(res.json?.errors)
    ? [
        ...new Set(
          res.json.errors.map(
            (e: any) =>
              `${e?.extensions?.code} ${process.env.FUZZ_STATS === '2' ? String(e?.message).slice(0, 70) : ''}`,
          ),
        ),
      ].join('+')
    : 'ok';
  const key = `${label} ${res.status} ${codes}`;
  stats.set(key, (stats.get(key) ?? 0) + 1);
}

/** Throws, with the request and the response, when one invariant fails. */
function check(req: Req, res: Res, label = '-'): void {
  record(label, res);
  const fail = (why: string) => {
    throw new Error(
      `${why}\n  request body: ${req.body.slice(0, 1500)}\n  auth: ${req.auth}\n  → HTTP ${res.status}: ${res.text.slice(0, 1500)}`,
    );
  };
  if (res.status >= 500) fail(`HTTP status ${res.status}`);
  if (res.json === undefined || res.json === null || typeof res.json !== 'object')
    fail('the body is not a JSON object');
  const errors: unknown = res.json.errors;
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) fail('errors is not a non-empty array');
    for (const e of errors as Array<{ extensions?: { code?: unknown } }>) {
      const code = e?.extensions?.code;
      if (code === 'INTERNAL_SERVER_ERROR') fail('INTERNAL_SERVER_ERROR: an input reached an unhandled failure');
      if (typeof code !== 'string' || !CONTRACT_CODES.has(code))
        fail(`error code ${String(code)} is not a contract code`);
    }
  } else if (!('data' in res.json)) fail('neither data nor errors');
  const sent = `${req.body}\n${res.sentAuth ?? ''}`;
  for (const [what, re] of LEAKS) {
    // A pattern the request itself contains may be an echo; generated strings avoid them all.
    if (re.test(res.text) && !re.test(sent)) fail(`the response leaks ${what}`);
  }
}

/** FUZZ_SCALE=10 runs ten times as many cases for ten times as long, for a deeper local search. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
/** FUZZ_SEED (and FUZZ_PATH) replay a reported failure; pick its property with `-t`. */
const REPLAY = process.env.FUZZ_SEED
  ? { seed: Number(process.env.FUZZ_SEED), ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}) }
  : {};
const RUN = { interruptAfterTimeLimit: 8_000 * SCALE, markInterruptAsFailure: false, ...REPLAY } as const;
const runs = (n: number) => Math.round(n * SCALE);
const TIMEOUT = 8_000 * SCALE + 15_000;

beforeAll(async () => {
  t = await startGateway({ ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' });
  const username = `fz_${Date.now().toString(36)}`;
  const s = await signUp(t, { username, full_name: 'Fuzz Target' });
  await signUp(t, { username: `${username}_b` });
  current = { email: s.email, password: PASSWORD };
  const claims = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString());
  const page = await t.gql('{ profiles(first: 1) { edges { cursor } } }');
  real = {
    email: s.email,
    accessToken: s.accessToken,
    refreshToken: s.refreshToken,
    userId: s.userId,
    sessionId: claims.session_id,
    username,
    service: await t.gateway.tokens.signServiceRole(3600),
    cursor: page.data!.profiles.edges[0].cursor,
  };
});
afterAll(async () => {
  if (process.env.FUZZ_STATS)
    console.log(
      [...stats]
        .sort()
        .map(([k, n]) => `${n}\t${k}`)
        .join('\n'),
    );
  await t?.close();
});

describe('fuzzing one gateway', () => {
  it(
    '(a) documents built from the schema, with hostile arguments, aliases and nesting',
    async () => {
      const a = arbitraries(real);
      const docArb = fc
        .record({
          fields: fc.oneof(
            { weight: 6, arbitrary: fieldArb(a).map((f) => [f]) },
            { weight: 1, arbitrary: fc.array(fieldArb(a), { minLength: 2, maxLength: 3 }) },
          ),
          kind: fc.oneof(
            { weight: 30, arbitrary: fc.constant<Doc['kind']>('auto') },
            { weight: 1, arbitrary: fc.constantFrom<Doc['kind']>('query', 'mutation', 'subscription', 'shorthand') },
          ),
          name: rarely(nameArb, 2),
        })
        .map((doc) => ({ ...printDoc(doc), label: doc.fields.map((f) => f.root.name).join(',') }));
      await fc.assert(
        fc.asyncProperty(docArb, mostlyValidAuth, async ({ label, ...doc }, auth) => {
          const req: Req = { body: jsonBody(doc), auth };
          check(req, await send(req), `a:${label}`);
        }),
        { numRuns: runs(90), ...RUN },
      );
    },
    TIMEOUT,
  );

  it(
    '(b) broken documents and bodies',
    async () => {
      const a = arbitraries(real);
      const VALID = [
        SIGN_UP,
        SIGN_IN,
        REFRESH,
        'mutation { updateProfile(input: { fullName: "x", username: "abc" }) { id fullName } }',
        'query Q($first: Int, $after: String) { profiles(first: $first, after: $after) { edges { cursor node { id } } } }',
        'mutation { signOut(scope: GLOBAL) }',
        'query { me { id profile { id } } sessions { id current } }',
      ];
      const TOKENS = ['{', '}', '(', ')', '[', ']', ':', '$', '!', '...', '@include', '"', '"""', '#', ',', '=', '|'];
      const NAMES = [
        'query',
        'mutation',
        'fragment',
        'on',
        'signUp',
        'me',
        'input',
        'email',
        'id',
        'null',
        'true',
        '1',
        '-1.5e9',
      ];
      const query = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 120 }),
        fc.string({ unit: anyUnit, maxLength: 60 }),
        fc.tuple(fc.constantFrom(...VALID), fc.nat()).map(([d, n]) => d.slice(0, n % (d.length + 1))),
        fc
          .tuple(fc.constantFrom(...VALID), fc.nat(), fc.string({ unit: anyUnit, maxLength: 3 }))
          .map(([d, i, s]) => `${d.slice(0, i % d.length)}${s}${d.slice((i % d.length) + 1)}`),
        fc.array(fc.constantFrom(...TOKENS, ...NAMES), { maxLength: 60 }).map((xs) => xs.join(' ')),
        fc.integer({ min: 5, max: 3000 }).map((n) => `{${' me {'.repeat(n)} id${' }'.repeat(n)} }`),
        fc.integer({ min: 100, max: 20_000 }).map((n) => `{ ${'a: me { id } '.repeat(Math.ceil(n / 14))} }`),
      );
      const body = fc.oneof(
        {
          weight: 6,
          arbitrary: fc
            .record(
              { query, variables: fc.option(a.anyValue), operationName: fc.option(a.str) },
              { requiredKeys: ['query'] },
            )
            .map(jsonBody),
        },
        {
          weight: 1,
          arbitrary: fc.record({ query: a.anyValue, variables: a.anyValue }, { requiredKeys: [] }).map(jsonBody),
        },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
        { weight: 1, arbitrary: fc.array(fc.record({ query }), { maxLength: 3 }).map((xs) => JSON.stringify(xs)) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '',
            'null',
            '[]',
            '{}',
            '"x"',
            '{"query":',
            '{"query":"{ me { id } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}',
          ),
        },
      );
      await fc.assert(
        fc.asyncProperty(body.filter(clean), authArb, async (b, auth) => {
          const req: Req = { body: b, auth };
          check(req, await send(req), 'b');
        }),
        { numRuns: runs(50), ...RUN },
      );
    },
    TIMEOUT,
  );

  it(
    '(b) bodies of other content types',
    async () => {
      const body = fc.oneof(
        fc.constant(JSON.stringify({ query: '{ me { id } }' })),
        fc.constantFrom(
          '',
          'query={me{id}}',
          '{ me { id } }',
          '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--x--',
        ),
        fc.string({ unit: 'binary', maxLength: 40 }).filter(clean),
      );
      const contentType = fc.constantFrom(
        '',
        'text/plain',
        'application/graphql',
        'application/graphql-response+json',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=latin1',
        'application/xml',
        'application/octet-stream',
      );
      await fc.assert(
        fc.asyncProperty(body, contentType, authArb, async (b, ct, auth) => {
          const req: Req = { body: b, contentType: ct, auth };
          check(req, await send(req), `b2:${ct}`);
        }),
        { numRuns: runs(20), ...RUN },
      );
    },
    TIMEOUT,
  );

  it(
    '(c) random variables for real documents',
    async () => {
      const a = arbitraries(real);
      const DOCS: Array<[string, Record<string, string>]> = [
        [SIGN_UP, { input: 'SignUpInput' }],
        [SIGN_IN, { input: 'SignInInput' }],
        [REFRESH, { token: 'String' }],
        [
          'mutation U($input: UpdateProfileInput!) { updateProfile(input: $input) { id username fullName avatarUrl website isPublic } }',
          { input: 'UpdateProfileInput' },
        ],
        [
          'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id email userMetadata } }',
          { input: 'UpdateUserInput' },
        ],
        [
          'query P($id: ID, $username: String) { profile(id: $id, username: $username) { id username } }',
          { id: 'ID', username: 'String' },
        ],
        [
          'query P($first: Int, $after: String) { profiles(first: $first, after: $after) { edges { cursor } pageInfo { endCursor } } }',
          { first: 'Int', after: 'Cursor' },
        ],
        [
          'query U($first: Int, $after: String, $search: String) { users(first: $first, after: $after, search: $search) { edges { cursor } } }',
          { first: 'Int', after: 'Cursor', search: 'String' },
        ],
        [
          'mutation B($id: ID!, $input: AdminUpdateUserInput!) { adminUpdateUser(id: $id, input: $input) { id appMetadata } }',
          { id: 'ID', input: 'AdminUpdateUserInput' },
        ],
        ['mutation S($scope: SignOutScope) { signOut(scope: $scope) }', { scope: 'SignOutScope' }],
        ['mutation D($id: ID!) { revokeSession(id: $id) }', { id: 'ID' }],
      ];
      const request = fc.oneof(
        ...DOCS.map(([query, vars]) =>
          fc
            .oneof(
              {
                weight: 12,
                arbitrary: fc.record(
                  Object.fromEntries(
                    Object.entries(vars).map(([k, kind]) => [
                      k,
                      fc.oneof({ weight: 10, arbitrary: a.TYPED[kind]! }, { weight: 1, arbitrary: a.json }),
                    ]),
                  ),
                  { requiredKeys: [] },
                ),
              },
              { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), a.json, { maxKeys: 4 }) },
              { weight: 1, arbitrary: a.json },
            )
            .map((variables) => jsonBody({ query, variables })),
        ),
      );
      await fc.assert(
        fc.asyncProperty(request, mostlyValidAuth, async (body, au) => {
          const req: Req = { body, auth: au };
          check(req, await send(req), 'c');
        }),
        { numRuns: runs(60), ...RUN },
      );
    },
    TIMEOUT,
  );

  it(
    '(d) random Authorization headers: an invalid token is UNAUTHENTICATED, never anon',
    async () => {
      await fc.assert(
        fc.asyncProperty(authArb, async (auth) => {
          const req: Req = { body: JSON.stringify({ query: '{ me { id } }' }), auth };
          const res = await send(req);
          check(req, res);
          const sent = res.sentAuth;
          const token = sent === undefined ? undefined : /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(sent)?.[1];
          const fresh = auth !== undefined && /^(Bearer|bearer) +\{\{FRESH\}\}$/.test(auth);
          if (sent === undefined || auth === 'Bearer {{SERVICE}}') {
            expect(res.json.errors).toBeUndefined();
            expect(res.json.data.me).toBeNull();
          } else if (fresh) {
            expect(res.json.errors).toBeUndefined();
            expect(res.json.data.me.id).toEqual(expect.any(String));
          } else if (auth !== 'Bearer {{STALE}}' || token === undefined) {
            // Garbage, truncated, tampered, alg none, forged claims: refused, not downgraded to anon.
            expect(res.json.errors?.[0]?.extensions?.code, `${sent?.slice(0, 200)} → ${res.text.slice(0, 300)}`).toBe(
              'UNAUTHENTICATED',
            );
            expect(res.json.data?.me ?? null).toBeNull();
          }
        }),
        { numRuns: runs(30), ...RUN },
      );
    },
    TIMEOUT,
  );

  it('leaves the database consistent', async () => {
    const [row] = await t.admin`select
      (select count(*)::int from auth.users u where (select count(*) from public.profiles p where p.id = u.id) <> 1) as users_without_one_profile,
      (select count(*)::int from public.profiles p where not exists (select 1 from auth.users u where u.id = p.id)) as orphan_profiles,
      (select count(*)::int from auth.sessions s where not exists (select 1 from auth.users u where u.id = s.user_id)) as orphan_sessions,
      (select count(*)::int from auth.refresh_tokens r where not exists (select 1 from auth.sessions s where s.id = r.session_id)) as orphan_refresh_tokens,
      (select count(*)::int from auth.users) as users`;
    expect(row).toEqual({
      users_without_one_profile: 0,
      orphan_profiles: 0,
      orphan_sessions: 0,
      orphan_refresh_tokens: 0,
      users: expect.any(Number),
    });
    expect(row!.users).toBeGreaterThanOrEqual(2);
  });
});
