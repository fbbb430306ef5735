import { startProvider } from './oidc-provider.js';

// `npm run dev:oidc`: an OpenID provider on 127.0.0.1 with one demo user, to try the gateway's
// OpenID Connect sign-in end to end on a laptop (docs/identity-providers.md walks through it).
//   PUBLIC_URL     where the browser reaches the gateway (default http://localhost:4000)
//   DEV_OIDC_PORT  the provider's port (default 4010; 0 takes any free one)

const gateway = (process.env.PUBLIC_URL ?? 'http://localhost:4000').replace(/\/+$/, '');
const port = Number(process.env.DEV_OIDC_PORT ?? 4010);
const name = 'dev';
const demo = { email: 'demo@example.com', password: 'demo-password' };

const provider = await startProvider({
  redirectUris: [`${gateway}/auth/${name}/callback`],
  port,
  // Fixed, so that the gateway and the provider can be restarted one without the other.
  client: { id: 'authgate-dev', secret: 'authgate-dev-secret' },
  login: 'form',
});
provider.accounts.set('demo', { sub: 'demo', ...demo, email_verified: true, name: 'Demo User' });

const providers = JSON.stringify([
  { name, issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret },
]);
console.log(`OpenID provider: ${provider.issuer}
  client id:     ${provider.clientId}
  client secret: ${provider.clientSecret}
  demo login:    ${demo.email} / ${demo.password}

Start the gateway with it (another terminal):
  PUBLIC_URL=${gateway} OIDC_PROVIDERS='${providers}' npm start

Then open ${gateway}/auth/${name}/start?redirect_to=${gateway}/graphql
sign in as the demo user, and run exchangeCode(code: "<the code in the address bar>") in GraphiQL.
Ctrl-C stops the provider.`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void provider.close().then(() => {
      console.log(`OpenID provider: ${signal}, stopped`);
      process.exit(0);
    });
  });
}
