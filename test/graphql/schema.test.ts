import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  buildSchema,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLNamedType,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  isUnionType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema as buildOurSchema } from '../../src/graphql/index.js';
import { printedSchema } from '../../src/ops/print-schema.js';

const root = new URL('../../', import.meta.url);
const schema = buildOurSchema();
const committed = readFileSync(new URL('schema.graphql', root), 'utf8');

/**
 * The API contract lives beside the repository (shared with clients), not in it: it is read
 * from ../shared/CONTRACT.md relative to the repository root and nowhere else. A clone
 * without it skips the contract checks, visibly, rather than failing.
 */
const CONTRACT = fileURLToPath(new URL('../shared/CONTRACT.md', root));
const contractPath = existsSync(CONTRACT) ? CONTRACT : undefined;
const CONTRACT_CHECKS = contractPath
  ? 'the schema against CONTRACT.md'
  : 'the schema against CONTRACT.md (skipped: no ../shared/CONTRACT.md beside the repository)';
if (!contractPath) console.warn(`schema.test: ${CONTRACT} is absent, so the contract checks are skipped`);

/** The SDL of the contract's first ```graphql block. */
function contractSdl(path: string): string {
  const m = /```graphql\r?\n([\s\S]*?)```/.exec(readFileSync(path, 'utf8'));
  if (!m?.[1]) throw new Error(`${path} has no \`\`\`graphql block`);
  return m[1];
}

const contract = buildSchema(contractPath ? contractSdl(contractPath) : 'type Query { _: Boolean }');

const kindOf = (t: GraphQLNamedType): string =>
  isScalarType(t)
    ? 'scalar'
    : isObjectType(t)
      ? 'type'
      : isInputObjectType(t)
        ? 'input'
        : isEnumType(t)
          ? 'enum'
          : isInterfaceType(t)
            ? 'interface'
            : isUnionType(t)
              ? 'union'
              : 'unknown';

const userTypes = (s: GraphQLSchema): GraphQLNamedType[] =>
  Object.values(s.getTypeMap()).filter((t) => !t.name.startsWith('__') && !isSpecifiedScalarType(t));

describe('committed schema.graphql', () => {
  it('equals printedSchema() byte for byte', () => {
    expect(printedSchema()).toBe(committed);
  });

  it('parses as a schema with the same types as the running one', () => {
    const fromFile = buildSchema(committed);
    expect(fromFile).toBeInstanceOf(GraphQLSchema);
    expect(
      userTypes(fromFile)
        .map((t) => t.name)
        .sort(),
    ).toEqual(
      userTypes(schema)
        .map((t) => t.name)
        .sort(),
    );
  });

  it('describes every root field (GraphiQL and codegen show it)', () => {
    const fromFile = buildSchema(committed);
    const undescribed = [fromFile.getQueryType()!, fromFile.getMutationType()!].flatMap((root) =>
      Object.values(root.getFields())
        .filter((f) => !f.description?.trim())
        .map((f) => `${root.name}.${f.name}`),
    );
    expect(undescribed).toEqual([]);
  });
});

describe.skipIf(!contractPath)(CONTRACT_CHECKS, () => {
  it('extracts the contract types it is meant to check', () => {
    // Guards the extraction: if the block moved or broke, the checks below would check nothing.
    const names = userTypes(contract).map((t) => t.name);
    for (const n of [
      'Query',
      'Mutation',
      'User',
      'Profile',
      'AuthPayload',
      'ProfileConnection',
      'ProfileEdge',
      'PageInfo',
      'SignUpInput',
      'SignInInput',
      'UpdateProfileInput',
      'SignOutScope',
      'DateTime',
      'JSON',
    ]) {
      expect(names).toContain(n);
    }
    expect(Object.keys(contract.getQueryType()!.getFields()).sort()).toEqual(['me', 'profile', 'profiles']);
    expect(Object.keys(contract.getMutationType()!.getFields()).sort()).toEqual([
      'refresh',
      'signIn',
      'signOut',
      'signUp',
      'updateProfile',
    ]);
  });

  it('has Query and Mutation as its root types', () => {
    expect(schema.getQueryType()?.name).toBe('Query');
    expect(schema.getMutationType()?.name).toBe('Mutation');
  });

  const contractTypes = userTypes(contract);

  it.each(contractTypes.map((t) => [t.name, t] as const))('has %s with the contract kind', (name, ct) => {
    const actual = schema.getType(name);
    expect(actual, `type ${name} is missing`).toBeDefined();
    expect(kindOf(actual!)).toBe(kindOf(ct));
  });

  const objectTypes = contractTypes.filter(isObjectType);
  it.each(objectTypes.map((t) => [t.name, t] as const))(
    'has every field of %s with the contract type and arguments',
    (name, ct) => {
      const actual = schema.getType(name);
      if (!isObjectType(actual)) throw new Error(`${name} is not an object type`);
      const fields = actual.getFields();
      for (const [fname, cf] of Object.entries(ct.getFields()) as Array<[string, GraphQLField<unknown, unknown>]>) {
        const af = fields[fname];
        expect(af, `${name}.${fname} is missing`).toBeDefined();
        expect(String(af!.type), `${name}.${fname} type`).toBe(String(cf.type));
        const aargs = new Map(af!.args.map((a) => [a.name, a]));
        for (const ca of cf.args) {
          const aa = aargs.get(ca.name);
          expect(aa, `${name}.${fname}(${ca.name}) is missing`).toBeDefined();
          expect(String(aa!.type), `${name}.${fname}(${ca.name}) type`).toBe(String(ca.type));
          expect(aa!.defaultValue, `${name}.${fname}(${ca.name}) default`).toEqual(ca.defaultValue);
        }
        // Arguments beyond the contract's must be optional, or existing clients break.
        const extra = af!.args.filter((a: GraphQLArgument) => !cf.args.some((c) => c.name === a.name));
        for (const a of extra) {
          expect(isNonNullType(a.type) && a.defaultValue === undefined, `${name}.${fname}(${a.name}) required`).toBe(
            false,
          );
        }
      }
    },
  );

  const inputTypes = contractTypes.filter(isInputObjectType);
  it.each(inputTypes.map((t) => [t.name, t] as const))(
    'has every field of input %s with the contract type',
    (name, ct) => {
      const actual = schema.getType(name);
      if (!isInputObjectType(actual)) throw new Error(`${name} is not an input type`);
      const fields = actual.getFields();
      for (const [fname, cf] of Object.entries(ct.getFields()) as Array<[string, GraphQLInputField]>) {
        expect(fields[fname], `${name}.${fname} is missing`).toBeDefined();
        expect(String(fields[fname]!.type), `${name}.${fname} type`).toBe(String(cf.type));
      }
      for (const [fname, f] of Object.entries(fields)) {
        if (fname in ct.getFields()) continue;
        expect(isNonNullType(f.type) && f.defaultValue === undefined, `${name}.${fname} is a new required field`).toBe(
          false,
        );
      }
    },
  );

  it('has SignOutScope with exactly LOCAL, GLOBAL and OTHERS', () => {
    const e = schema.getType('SignOutScope');
    if (!isEnumType(e)) throw new Error('SignOutScope is not an enum');
    expect(
      e
        .getValues()
        .map((v) => v.name)
        .sort(),
    ).toEqual(['GLOBAL', 'LOCAL', 'OTHERS']);
  });

  it('spells the fixed nullability the contract relies on', () => {
    // Spot checks written out, so a wrong extraction cannot hide a regression.
    const q = schema.getQueryType()!.getFields();
    expect(String(q.me!.type)).toBe('User');
    expect(String(q.profiles!.type)).toBe('ProfileConnection!');
    expect(q.profiles!.args.find((a) => a.name === 'first')?.defaultValue).toBe(20);
    expect(String(q.profile!.type)).toBe('Profile');
    const m = schema.getMutationType()!.getFields();
    expect(String(m.signUp!.type)).toBe('AuthPayload!');
    expect(String(m.refresh!.args.find((a) => a.name === 'refreshToken')?.type)).toBe('String!');
    expect(String(m.signOut!.type)).toBe('Boolean!');
    expect(m.signOut!.args.find((a) => a.name === 'scope')?.defaultValue).toBe('LOCAL');
    expect(String(m.updateProfile!.type)).toBe('Profile!');
    const user = schema.getType('User');
    if (!isObjectType(user)) throw new Error('User is not an object type');
    expect(String(user.getFields().profile!.type)).toBe('Profile');
    expect(String(user.getFields().lastSignInAt!.type)).toBe('DateTime');
    expect(String(user.getFields().userMetadata!.type)).toBe('JSON!');
    const pageInfo = schema.getType('PageInfo');
    if (!isObjectType(pageInfo)) throw new Error('PageInfo is not an object type');
    expect(String(pageInfo.getFields().startCursor!.type)).toBe('String');
    expect(String(pageInfo.getFields().hasNextPage!.type)).toBe('Boolean!');
  });
});
