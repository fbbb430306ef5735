import { createAuthClient, memoryStorage } from '@authgate/client';
import { AuthProvider, useSession, useUser } from '@authgate/client/react';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';

// The React binding rendered on the server (react-dom/server), from the package's build; the
// browser test renders nothing React-specific beyond what the hooks subscribe to.

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway();
});
afterAll(async () => {
  await t?.close();
});

function Who(): string {
  const user = useUser();
  const session = useSession();
  return user ? `${user.email} (${session?.aal})` : 'signed out';
}

describe('@authgate/client/react', () => {
  it('useUser and useSession read the client the provider gives them', async () => {
    const storage = memoryStorage();
    const mail = email('react');
    await createAuthClient({ url: t.url, storage }).signUp({ email: mail, password: PASSWORD });
    const auth = createAuthClient({ url: t.url, storage });
    await auth.ready;
    expect(renderToString(createElement(AuthProvider, { client: auth }, createElement(Who)))).toBe(`${mail} (aal1)`);
    await auth.signOut();
    expect(renderToString(createElement(AuthProvider, { client: auth }, createElement(Who)))).toBe('signed out');
  });

  it('says what is missing when a hook runs without a provider', () => {
    expect(() => renderToString(createElement(Who))).toThrow(/AuthProvider/);
  });
});
