/**
 * graphql-yoga alone: the framework the gateway is built on, answering `me { id email }` from
 * a constant, with no token, no database, no plugins of ours and no logging. It is not a peer
 * (it does nothing a server must do): it shows how much of the gateway's CPU per request the
 * framework takes before any of authgate's work, so the gap to the floor reads right.
 *
 * Env: PORT, EXIT_WITH_PARENT. Answers /healthz for the bench's readiness check.
 */
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const port = Number(process.env.PORT ?? 4200);
const ME = { id: '00000000-0000-4000-8000-000000000000', email: 'viewer@bench.test' };

const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { me: User } type User { id: ID! email: String }',
    resolvers: { Query: { me: () => ME } },
  }),
  logging: false,
  graphiql: false,
  landingPage: false,
});

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  void yoga(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`yoga-alone: listening on http://127.0.0.1:${port}`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.env.EXIT_WITH_PARENT === '1') process.stdin.on('end', stop).on('error', stop).resume();
