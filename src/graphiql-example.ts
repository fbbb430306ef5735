/** The document GraphiQL opens with, so a newcomer has something to run. */
export const EXAMPLE_DOCUMENT = `# Welcome to authgate. Run SignUp (or SignIn), then Me: this page sends the
# access token it got as Authorization: Bearer (the line at the bottom right
# says who is signed in; an Authorization in the Headers pane takes precedence).

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
