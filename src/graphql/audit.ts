import { AUDIT_EVENTS, type AuditPageRow } from '../auth/audit.js';
import { AuthError, badInput } from '../auth/errors.js';
import type { SecurityEventView } from '../auth/flows/account/security-events.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';
import { connectionType, keysetPage, pageArgs } from './connection.js';
import { User } from './user.js';

const AuditLogEntry = builder.objectRef<AuditPageRow>('AuditLogEntry').implement({
  description: 'One auth event (docs/audit-log.md lists them). Never carries a secret, token, password or hash.',
  fields: (t) => ({
    id: t.exposeID('id'),
    event: t.exposeString('event'),
    actorKind: t.exposeString('actorKind', { description: 'user, service_role, system or anonymous.' }),
    actorId: t.exposeID('actorId', { nullable: true, description: 'The acting user, when actorKind is user.' }),
    userId: t.exposeID('userId', { nullable: true, description: 'The account the event is about.' }),
    ip: t.exposeString('ip', { nullable: true }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    detail: t.expose('detail', { type: 'JSON' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const SecurityEvent = builder.objectRef<SecurityEventView>('SecurityEvent').implement({
  description:
    "An event on the caller's own account. When someone else acted (an operator, a failed attempt, the gateway), " +
    'only the kind of actor shows: ip, userAgent and detail are null.',
  fields: (t) => ({
    id: t.exposeID('id'),
    event: t.exposeString('event'),
    actorKind: t.exposeString('actorKind', { description: 'user, service_role, system or anonymous.' }),
    ip: t.exposeString('ip', { nullable: true }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    detail: t.expose('detail', { type: 'JSON', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const AuditLogConnection = connectionType('AuditLogEntry', AuditLogEntry);
const SecurityEventConnection = connectionType('SecurityEvent', SecurityEvent);

const AuditLogFilter = builder.inputType('AuditLogFilter', {
  fields: (t) => ({
    userId: t.id({ description: 'Events about this account.' }),
    events: t.stringList({ description: 'Only these events.' }),
    since: t.field({ type: 'DateTime', description: 'At or after this time.' }),
    until: t.field({ type: 'DateTime', description: 'Before this time.' }),
  }),
});

const KNOWN_EVENTS: ReadonlySet<string> = new Set(AUDIT_EVENTS);

builder.queryFields((t) => ({
  auditLog: t.withAuth({ serviceRole: true }).field({
    type: AuditLogConnection,
    description: 'Service role only (FORBIDDEN otherwise). Every auth event, newest first.',
    args: { ...pageArgs(t.arg), filter: t.arg({ type: AuditLogFilter }) },
    unauthorizedResolver: (_root, _args, _ctx, _info, error) => Promise.reject(error),
    resolve: (_root, args, ctx) => {
      const f = args.filter ?? {};
      if (f.userId != null && !isUuid(f.userId)) throw badInput('Not a user id.', 'filter.userId');
      const unknown = f.events?.find((e) => !KNOWN_EVENTS.has(e));
      if (unknown !== undefined) throw badInput('Not an audit event.', 'filter.events');
      const filter = {
        userId: f.userId == null ? null : String(f.userId).toLowerCase(),
        events: f.events ?? null,
        since: f.since ?? null,
        until: f.until ?? null,
      };
      return keysetPage(
        args,
        (first, after) => ctx.admin.auditLog(filter, first, after),
        (row) => ({ key: { createdAt: row.createdAt, id: row.id }, node: row }),
      );
    },
  }),
}));

builder.objectField(User, 'securityEvents', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: SecurityEventConnection,
    description: "The caller's own security events, newest first; FORBIDDEN on any other user.",
    args: pageArgs(t.arg),
    resolve: (user, args, ctx) => {
      if (user.id !== ctx.viewer.id) throw new AuthError('FORBIDDEN');
      return keysetPage(
        args,
        (first, after) => ctx.auth.securityEvents(user.id, first, after),
        (row) => ({ key: { createdAt: row.createdAt, id: row.id }, node: row }),
      );
    },
  }),
);
