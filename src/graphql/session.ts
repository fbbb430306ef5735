import { badInput } from '../auth/errors.js';
import type { SessionView } from '../auth/model.js';
import { isUuid } from '../shared/ids.js';
import { builder } from './builder.js';

const Session = builder.objectRef<SessionView>('Session').implement({
  description: 'A signed-in device or client. Its id is the session_id claim of its access tokens.',
  fields: (t) => ({
    id: t.exposeID('id'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    lastActiveAt: t.expose('lastActiveAt', { type: 'DateTime', nullable: true, description: 'The last refresh.' }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    ip: t.exposeString('ip', { nullable: true }),
    current: t.exposeBoolean('current', { description: 'The session of this request.' }),
  }),
});

builder.queryField('sessions', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: [Session],
    description: "The caller's live sessions.",
    resolve: (_root, _args, ctx) => ctx.auth.sessions(ctx.viewer),
  }),
);

builder.mutationField('revokeSession', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: "Ends one of the caller's own sessions; false when there is no such session of theirs.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      if (!isUuid(args.id)) throw badInput('Not a session id.', 'id');
      return ctx.auth.revokeSession(ctx.viewer.id, String(args.id), ctx.client);
    },
  }),
);
