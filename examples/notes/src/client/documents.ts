import { graphql } from './gql/index.js';

// The operations of a client of the notes app. `npm run codegen` types each one from the
// printed schema: its result and its variables (src/client/gql/, generated).

export const CreateNoteDocument = graphql(`
  mutation CreateNote($input: CreateNoteInput!) {
    createNote(input: $input) {
      id
      title
      isPublic
      createdAt
    }
  }
`);

export const MyNotesDocument = graphql(`
  query MyNotes($first: Int) {
    me {
      id
      notes(first: $first) {
        id
        title
        isPublic
        shares {
          userId
          canEdit
        }
      }
    }
  }
`);

export const NotesPageDocument = graphql(`
  query NotesPage($first: Int, $after: String) {
    notes(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          title
          ownerId
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export const ShareNoteDocument = graphql(`
  mutation ShareNote($noteId: ID!, $userId: ID!, $canEdit: Boolean) {
    shareNote(noteId: $noteId, userId: $userId, canEdit: $canEdit) {
      noteId
      userId
      canEdit
    }
  }
`);
