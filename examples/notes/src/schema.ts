import { anonRole, authenticatedRole, users } from 'authgate/drizzle';
import { type SQL, sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  boolean,
  check,
  index,
  type PgTableExtraConfigValue,
  pgPolicy,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

// The app's tables, declared with Drizzle, and the row level security policies that decide
// who sees and changes which row. authgate runs every GraphQL request in one transaction
// whose role is `anon` or `authenticated` and whose `request.jwt.claims` hold the caller,
// so `auth.uid()` is the signed-in user's id (null for anon).
//
// Each policy reads the caller as `(select auth.uid())`, not `auth.uid()`: Postgres then runs
// it once per statement (an init plan), not once per row (`npx authgate doctor` checks this).
//
// What drizzle-kit does not emit is in the custom migrations of drizzle/: the function the
// note_shares policies call (before these tables), and FORCE ROW LEVEL SECURITY, the grants
// and the trigger (after them).
//
// The two tables refer to each other (a foreign key one way, policies both ways), so the
// callbacks that do are annotated (`(): AnyPgColumn =>`, `(t): PgTableExtraConfigValue[] =>`):
// TypeScript cannot infer a type that depends on itself.

export const notes = pgTable(
  'notes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .default(sql`auth.uid()`)
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    body: text('body').notNull().default(''),
    isPublic: boolean('is_public').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    // Set by the trigger of drizzle/0002_grants_and_trigger.sql on every update.
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t): PgTableExtraConfigValue[] => [
    // The owner's notes, newest first: the policies' `owner_id = …` and the per-owner
    // window of Profile.notes / me.notes.
    index('notes_owner_created_idx').on(t.ownerId, t.createdAt.desc(), t.id.desc()),
    // The notes(first, after) connection: newest first, keyset (created_at, id).
    index('notes_created_idx').on(t.createdAt.desc(), t.id.desc()),
    check('notes_title_length', sql`char_length(${t.title}) between 1 and 200`),
    check('notes_body_length', sql`char_length(${t.body}) <= 20000`),

    // anon: public notes only. A policy of its own because the authenticated one reads
    // note_shares, on which anon has no grant (a policy's subquery runs with the caller's
    // privileges, so anon would get "permission denied" instead of its public notes).
    pgPolicy('notes_select_public', {
      for: 'select',
      to: anonRole,
      using: sql`${t.isPublic}`,
    }),
    // A signed-in user: public notes, their own, and those shared with them. The subquery
    // reads note_shares under note_shares' own policies; note_shares_user_note_idx serves it.
    pgPolicy('notes_select_visible', {
      for: 'select',
      to: authenticatedRole,
      using: sql`${t.isPublic} or ${t.ownerId} = (select auth.uid()) or exists (
        select 1 from ${noteShares}
        where ${noteShares.noteId} = ${t.id} and ${noteShares.userId} = (select auth.uid()))`,
    }),
    pgPolicy('notes_insert_own', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: sql`${t.ownerId} = (select auth.uid())`,
    }),
    // The owner, or a user the note is shared with can_edit. WITH CHECK too, so an update
    // cannot move a row out of what the caller may write. Which columns they may set is
    // the grant's (owner_id is not among them) and the trigger's (is_public: owner only).
    pgPolicy('notes_update_owner_or_editor', {
      for: 'update',
      to: authenticatedRole,
      using: sql`${t.ownerId} = (select auth.uid()) or exists (
        select 1 from ${noteShares}
        where ${noteShares.noteId} = ${t.id} and ${noteShares.userId} = (select auth.uid()) and ${noteShares.canEdit})`,
      withCheck: sql`${t.ownerId} = (select auth.uid()) or exists (
        select 1 from ${noteShares}
        where ${noteShares.noteId} = ${t.id} and ${noteShares.userId} = (select auth.uid()) and ${noteShares.canEdit})`,
    }),
    pgPolicy('notes_delete_owner', {
      for: 'delete',
      to: authenticatedRole,
      using: sql`${t.ownerId} = (select auth.uid())`,
    }),
  ],
).enableRLS();

// note_shares' policies need to know whether the caller owns the note. Reading `notes` in
// them directly would make the two tables' policies read each other: a query on notes
// applies notes' policy, which reads note_shares, whose policy reads notes again, and
// Postgres refuses the query with "infinite recursion detected in policy for relation
// notes". They call app_private.owns_note(note_id) instead (drizzle/0000_owns_note.sql): a
// SECURITY DEFINER function, run as its owner (the migrating superuser, who is not subject
// to RLS), so it reads notes without applying notes' policies, and the loop is broken.
// It answers only "is this note mine?" for the caller, so it leaks nothing.
const ownsNote = (noteId: AnyPgColumn): SQL => sql`app_private.owns_note(${noteId})`;

export const noteShares = pgTable(
  'note_shares',
  {
    noteId: uuid('note_id')
      .notNull()
      .references((): AnyPgColumn => notes.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    canEdit: boolean('can_edit').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // One share per (note, user); also the owner's lookup of a note's shares.
    primaryKey({ name: 'note_shares_pkey', columns: [t.noteId, t.userId] }),
    // The lookup in notes' policies, `user_id = (select auth.uid()) and note_id = notes.id`,
    // and "notes shared with me".
    index('note_shares_user_note_idx').on(t.userId, t.noteId),

    // Readable by the user it shares with and by the note's owner.
    pgPolicy('note_shares_select', {
      for: 'select',
      to: authenticatedRole,
      using: sql`${t.userId} = (select auth.uid()) or ${ownsNote(t.noteId)}`,
    }),
    // Only the note's owner shares it, changes a share (can_edit) or takes it back.
    pgPolicy('note_shares_insert_owner', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: ownsNote(t.noteId),
    }),
    pgPolicy('note_shares_update_owner', {
      for: 'update',
      to: authenticatedRole,
      using: ownsNote(t.noteId),
      withCheck: ownsNote(t.noteId),
    }),
    pgPolicy('note_shares_delete_owner', {
      for: 'delete',
      to: authenticatedRole,
      using: ownsNote(t.noteId),
    }),
  ],
).enableRLS();

export type NoteRow = typeof notes.$inferSelect;
export type NoteShareRow = typeof noteShares.$inferSelect;
