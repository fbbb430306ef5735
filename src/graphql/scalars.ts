import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { isoDateTime } from '../shared/timestamps.js';
import { builder } from './builder.js';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

builder.scalarType('DateTime', {
  description: 'An ISO-8601 date-time string.',
  serialize: isoDateTime,
  parseValue: (value) => {
    // Strict ISO-8601 with a year Postgres can store; JS alone would take far more.
    const d = typeof value === 'string' && ISO_DATE_TIME.test(value) ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) {
      throw new GraphQLError('DateTime must be an ISO-8601 date-time, e.g. 2030-01-01T00:00:00Z.');
    }
    return d;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING || !ISO_DATE_TIME.test(ast.value)) {
      throw new GraphQLError('DateTime must be an ISO-8601 date-time, e.g. 2030-01-01T00:00:00Z.');
    }
    const d = new Date(ast.value);
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) {
      throw new GraphQLError('DateTime is out of range.');
    }
    return d;
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => literal(ast, variables),
});

function literal(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literal(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    default:
      throw new GraphQLError('Unsupported JSON literal.');
  }
}
