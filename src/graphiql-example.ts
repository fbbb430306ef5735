/** The document GraphiQL opens with, so a newcomer has something to run. */
export const EXAMPLE_DOCUMENT = `# Welcome to authgate. Run SignUp (or SignIn), copy accessToken into the
# Headers pane as {"Authorization": "Bearer <accessToken>"}, then run Me.

mutation SignUp {
  signUp(input: { email: "ada@example.com", password: "correct horse battery", data: { username: "ada", full_name: "Ada Lovelace" } }) {
    accessToken
    refreshToken
    expiresAt
    user { id email profile { username fullName } }
  }
}

mutation SignIn {
  signIn(input: { email: "ada@example.com", password: "correct horse battery" }) {
    accessToken
    refreshToken
  }
}

query Me {
  me { id email lastSignInAt profile { username fullName isPublic } }
}

query Profiles {
  profiles(first: 20) {
    edges { cursor node { id username fullName isPublic createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
`;
