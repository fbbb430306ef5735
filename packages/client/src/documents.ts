// The operations the client runs itself. Plain text, so the package needs no GraphQL library;
// test/client/documents.test.ts validates each against the gateway's schema.graphql, and
// `persisted-documents.json` (written by the build) lists them for TRUSTED_DOCUMENTS.

const USER = 'id email role isAnonymous emailConfirmedAt createdAt lastSignInAt userMetadata appMetadata';
const SESSION = `accessToken refreshToken expiresAt aal mfaRequired user { ${USER} }`;

export const DOCUMENTS = {
  SignUp: `mutation SignUp($input: SignUpInput!, $captchaToken: String) { signUp(input: $input, captchaToken: $captchaToken) { ${SESSION} } }`,
  Register: `mutation Register($input: SignUpInput!, $captchaToken: String) { register(input: $input, captchaToken: $captchaToken) { confirmationRequired user { ${USER} } session { ${SESSION} } } }`,
  SignIn: `mutation SignIn($input: SignInInput!, $captchaToken: String) { signIn(input: $input, captchaToken: $captchaToken) { ${SESSION} } }`,
  SignInAnonymously: `mutation SignInAnonymously($data: JSON, $captchaToken: String) { signInAnonymously(data: $data, captchaToken: $captchaToken) { ${SESSION} } }`,
  Refresh: `mutation Refresh($refreshToken: String!) { refresh(refreshToken: $refreshToken) { ${SESSION} } }`,
  SignOut: 'mutation SignOut($scope: SignOutScope) { signOut(scope: $scope) }',
  ExchangeCode: `mutation ExchangeCode($code: String!, $codeVerifier: String) { exchangeCode(code: $code, codeVerifier: $codeVerifier) { ${SESSION} } }`,
  MfaVerify: `mutation MfaVerify($factorId: ID!, $code: String!) { mfaVerify(factorId: $factorId, code: $code) { ${SESSION} } }`,
  Me: `query Me { me { ${USER} } }`,
} as const;

export type OperationName = keyof typeof DOCUMENTS;
