import { graphql } from './gql/index.js';

// The app's own operations. `npm run codegen` reads these strings and writes their result and
// variable types into ./gql, so each `graphql(...)` returns a TypedDocumentString that
// `auth.request` types its variables and result from. Signing in, refreshing and signing out are
// @authgate/client's own operations, not written here.

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
