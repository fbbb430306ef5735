import { graphql } from './gql/index.js';

// One document per operation the client uses. `npm run codegen` reads these strings and writes
// their result and variable types into ./gql, so `graphql(...)` returns a TypedDocumentNode.

export const SignUpDocument = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      accessToken
      refreshToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

// register, unlike signUp, also works when the gateway requires emails to be confirmed first: then
// it answers with the user and no session.
export const RegisterDocument = graphql(`
  mutation Register($input: SignUpInput!) {
    register(input: $input) {
      user {
        id
        email
      }
      session {
        accessToken
        refreshToken
        expiresAt
      }
      confirmationRequired
    }
  }
`);

export const SignInDocument = graphql(`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) {
      accessToken
      refreshToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

export const RefreshDocument = graphql(`
  mutation Refresh($refreshToken: String!) {
    refresh(refreshToken: $refreshToken) {
      accessToken
      refreshToken
      expiresAt
    }
  }
`);

// Finishes a provider sign-in: the one-time code the browser landed with, and the PKCE verifier
// whose challenge went to /auth/<provider>/start.
export const ExchangeCodeDocument = graphql(`
  mutation ExchangeCode($code: String!, $codeVerifier: String) {
    exchangeCode(code: $code, codeVerifier: $codeVerifier) {
      accessToken
      refreshToken
      expiresAt
      user {
        id
        email
      }
    }
  }
`);

export const MeDocument = graphql(`
  query Me {
    me {
      id
      email
      role
      userMetadata
      profile {
        id
        username
        fullName
        avatarUrl
        website
        isPublic
      }
    }
  }
`);

export const ProfilesDocument = graphql(`
  query Profiles($first: Int, $after: String) {
    profiles(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          username
          fullName
          avatarUrl
          isPublic
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const UpdateProfileDocument = graphql(`
  mutation UpdateProfile($input: UpdateProfileInput!) {
    updateProfile(input: $input) {
      id
      username
      fullName
      avatarUrl
      website
      isPublic
      updatedAt
    }
  }
`);

export const SignOutDocument = graphql(`
  mutation SignOut($scope: SignOutScope) {
    signOut(scope: $scope)
  }
`);
