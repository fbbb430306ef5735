import {
  AuthError,
  badInput,
  builder,
  type Context,
  connectionType,
  isUuid,
  keysetPage,
  Profile,
  pageArgs,
  type RequestDb,
  User,
} from 'authgate/builder';
import DataLoader from 'dataloader';
import { and, asc, desc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm';
import { type NoteRow, type NoteShareRow, noteShares, notes } from './schema.ts';

// The app's GraphQL types and fields, on authgate's builder. Every read and write goes
// through ctx.db: Drizzle bound to the request's own transaction, whose first statement set
// the caller's claims and role and checked their session, so the policies of src/schema.ts
// decide every row. Nothing here filters by owner for safety's sake; Postgres does.
//
// Errors: a bad argument is BAD_USER_INPUT (with `extensions.field`). A note the caller
// cannot see reads as null, exactly like one that does not exist (row level security hides
// it; telling them apart would leak that it exists). A change to a note the caller cannot
// see or may not change is FORBIDDEN, with the same message whether the note is missing,
// hidden or read-only, for the same reason.

export const Note = builder.objectRef<NoteRow>('Note');
export const NoteShare = builder.objectRef<NoteShareRow>('NoteShare');

// ---------------------------------------------------------------------------------------
// Per-request DataLoaders: each batches the loads of one request into one query, inside that
// request's transaction, and caches nothing across requests (ctx.perRequest makes one per
// request and key), so one caller's rows never answer another's.

type OwnerPage = { ownerId: string; first: number };

/**
 * The newest `first` notes of each owner the caller may see, for every Profile.notes and
 * User.notes of a request in ONE query: a window function numbers each owner's notes, so
 * twenty profiles cost one statement, not twenty.
 */
const notesByOwner = (ctx: Context) =>
  ctx.perRequest(
    'notes:byOwner',
    () =>
      new DataLoader<OwnerPage, NoteRow[], string>(
        async (keys) => {
          const owners = [...new Set(keys.map((k) => k.ownerId))];
          const most = Math.max(...keys.map((k) => k.first));
          const ranked = ctx.db.$with('ranked').as(
            ctx.db
              .select({
                ...getTableColumns(notes),
                rowNumber: sql<number>`row_number() over (
                  partition by ${notes.ownerId} order by ${notes.createdAt} desc, ${notes.id} desc)`.as('row_number'),
              })
              .from(notes)
              .where(inArray(notes.ownerId, owners)),
          );
          const rows = await ctx.db
            .with(ranked)
            .select()
            .from(ranked)
            .where(lte(ranked.rowNumber, most))
            .orderBy(asc(ranked.ownerId), asc(ranked.rowNumber));
          const byOwner = new Map<string, NoteRow[]>();
          for (const { rowNumber: _, ...note } of rows) {
            byOwner.set(note.ownerId, [...(byOwner.get(note.ownerId) ?? []), note]);
          }
          return keys.map((k) => (byOwner.get(k.ownerId) ?? []).slice(0, k.first));
        },
        { cacheKeyFn: (k) => `${k.ownerId}:${k.first}` },
      ),
  );

/** Notes by id; null for one the caller cannot see (or that does not exist). */
const noteById = (ctx: Context) =>
  ctx.perRequest(
    'notes:byId',
    () =>
      new DataLoader<string, NoteRow | null>(async (ids) => {
        const rows = await ctx.db
          .select()
          .from(notes)
          .where(inArray(notes.id, [...ids]));
        return ids.map((id) => rows.find((r) => r.id === id) ?? null);
      }),
  );

/** The shares of each note that the caller may see: all of them for its owner, their own for a sharee. */
const sharesByNote = (ctx: Context) =>
  ctx.perRequest(
    'noteShares:byNote',
    () =>
      new DataLoader<string, NoteShareRow[]>(async (ids) => {
        const rows = await ctx.db
          .select()
          .from(noteShares)
          .where(inArray(noteShares.noteId, [...ids]))
          .orderBy(asc(noteShares.createdAt));
        return ids.map((id) => rows.filter((r) => r.noteId === id));
      }),
  );

// ---------------------------------------------------------------------------------------
// Types

Note.implement({
  description:
    'A note. Row level security decides who sees it: its owner, the users it is shared with, and everyone once it is public.',
  fields: (t) => ({
    id: t.exposeID('id'),
    title: t.exposeString('title'),
    body: t.exposeString('body'),
    isPublic: t.exposeBoolean('isPublic'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    ownerId: t.exposeID('ownerId'),
    owner: t.field({
      type: Profile,
      nullable: true,
      description: "The owner's profile, or null when it is private.",
      resolve: (note, _args, ctx) => ctx.loaders.profile.load(note.ownerId),
    }),
    shares: t.field({
      type: [NoteShare],
      description: 'Who it is shared with: all of its shares for its owner, their own share for anyone else.',
      // anon has no grant on note_shares: its query would fail, and a failed statement
      // aborts the whole request's transaction. No signed-in caller, no share of theirs.
      resolve: (note, _args, ctx) => (ctx.viewer ? sharesByNote(ctx).load(note.id) : []),
    }),
  }),
});

NoteShare.implement({
  description: 'A note shared with a user, who may read it, and edit its title and body when canEdit.',
  fields: (t) => ({
    noteId: t.exposeID('noteId'),
    userId: t.exposeID('userId'),
    canEdit: t.exposeBoolean('canEdit'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    note: t.field({ type: Note, nullable: true, resolve: (share, _args, ctx) => noteById(ctx).load(share.noteId) }),
    user: t.field({
      type: Profile,
      nullable: true,
      description: "The user's profile, or null when it is private.",
      resolve: (share, _args, ctx) => ctx.loaders.profile.load(share.userId),
    }),
  }),
});

const NoteConnection = connectionType('Note', Note);

// ---------------------------------------------------------------------------------------
// Reads

/** `first` of a per-owner list: 1..50. */
function ownerFirst(first: number | null | undefined): number {
  const n = first ?? 5;
  if (!Number.isInteger(n) || n < 1 || n > 50) throw badInput('first must be between 1 and 50.', 'first');
  return n;
}

builder.objectField(Profile, 'notes', (t) =>
  t.field({
    type: [Note],
    description: "This user's newest notes that the caller may see.",
    args: { first: t.arg.int({ defaultValue: 5 }) },
    resolve: (profile, args, ctx) => notesByOwner(ctx).load({ ownerId: profile.id, first: ownerFirst(args.first) }),
  }),
);

builder.objectField(User, 'notes', (t) =>
  t.field({
    type: [Note],
    description: "This user's newest notes (for `me`: the caller's own, private ones included).",
    args: { first: t.arg.int({ defaultValue: 5 }) },
    resolve: (user, args, ctx) => notesByOwner(ctx).load({ ownerId: user.id, first: ownerFirst(args.first) }),
  }),
);

builder.queryField('notes', (t) =>
  t.field({
    type: NoteConnection,
    description: 'The notes the caller may see (their own, those shared with them, public ones), newest first.',
    args: pageArgs(t.arg),
    resolve: (_root, args, ctx) =>
      keysetPage(
        args,
        async (first, after) => {
          // The cursor keeps created_at as Postgres's own text: a JS Date would drop its microseconds.
          const rows = await ctx.db
            .select({ note: notes, createdAt: sql<string>`${notes.createdAt}::text` })
            .from(notes)
            .where(
              after
                ? sql`(${notes.createdAt}, ${notes.id}) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`
                : undefined,
            )
            .orderBy(desc(notes.createdAt), desc(notes.id))
            .limit(first + 1);
          for (const r of rows) noteById(ctx).prime(r.note.id, r.note);
          return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
        },
        (r) => ({ key: { createdAt: r.createdAt, id: r.note.id }, node: r.note }),
      ),
  }),
);

builder.queryField('note', (t) =>
  t.field({
    type: Note,
    nullable: true,
    description: 'One note, or null when it does not exist or the caller may not see it.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => noteById(ctx).load(checkId(args.id, 'id')),
  }),
);

// ---------------------------------------------------------------------------------------
// Writes

const CreateNoteInput = builder.inputType('CreateNoteInput', {
  fields: (t) => ({
    title: t.string({ required: true, description: '1 to 200 characters.' }),
    body: t.string({ description: 'Up to 20000 characters; empty when left out.' }),
    isPublic: t.boolean({ description: 'Visible to everyone, anon included; false when left out.' }),
  }),
});

const UpdateNoteInput = builder.inputType('UpdateNoteInput', {
  description: 'What to change; fields left out stay as they are. Only the owner may change isPublic.',
  fields: (t) => ({
    title: t.string(),
    body: t.string(),
    isPublic: t.boolean(),
  }),
});

builder.mutationField('createNote', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Note,
    description: "A new note of the caller's.",
    args: { input: t.arg({ type: CreateNoteInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const [row] = await ctx.db
        .insert(notes)
        .values({
          ownerId: ctx.viewer.id,
          title: checkTitle(input.title),
          body: checkBody(input.body ?? ''),
          isPublic: input.isPublic ?? false,
        })
        .returning();
      if (!row) throw new Error('insert returned no row');
      return row;
    },
  }),
);

builder.mutationField('updateNote', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Note,
    description: 'Changes a note of the caller, or one shared with them with canEdit (title and body only).',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateNoteInput, required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = checkId(args.id, 'id');
      const { title, body, isPublic } = args.input;
      const patch: Partial<Pick<NoteRow, 'title' | 'body' | 'isPublic'>> = {};
      if (title !== undefined) patch.title = checkTitle(notNull(title, 'title'));
      if (body !== undefined) patch.body = checkBody(notNull(body, 'body'));
      if (isPublic !== undefined) patch.isPublic = notNull(isPublic, 'isPublic');
      if (Object.keys(patch).length === 0) throw badInput('Give at least one of title, body and isPublic.', 'input');
      // Row level security skips a row the caller may not update: no row back, nothing changed.
      const [row] = await write(ctx, (tx) => tx.update(notes).set(patch).where(eq(notes.id, id)).returning());
      if (!row) throw cannotChange();
      noteById(ctx).clear(id).prime(id, row);
      return row;
    },
  }),
);

builder.mutationField('deleteNote', (t) =>
  t.withAuth({ signedIn: true }).id({
    description: "Deletes a note of the caller's (with its shares); answers its id.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = checkId(args.id, 'id');
      const [row] = await ctx.db.delete(notes).where(eq(notes.id, id)).returning({ id: notes.id });
      if (!row) throw cannotChange();
      noteById(ctx).clear(id).prime(id, null);
      return row.id;
    },
  }),
);

builder.mutationField('shareNote', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: NoteShare,
    description:
      "Shares a note of the caller's with a user (read, and edit title and body when canEdit); again, it changes canEdit.",
    args: {
      noteId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      canEdit: t.arg.boolean({ defaultValue: false }),
    },
    resolve: async (_root, args, ctx) => {
      const noteId = checkId(args.noteId, 'noteId');
      const userId = checkId(args.userId, 'userId');
      if (userId === ctx.viewer.id) throw badInput('A note is not shared with its own owner.', 'userId');
      const canEdit = args.canEdit ?? false;
      const [row] = await write(ctx, (tx) =>
        tx
          .insert(noteShares)
          .values({ noteId, userId, canEdit })
          .onConflictDoUpdate({ target: [noteShares.noteId, noteShares.userId], set: { canEdit } })
          .returning(),
      );
      if (!row) throw cannotChange();
      return row;
    },
  }),
);

builder.mutationField('unshareNote', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: "Takes back the share of a note of the caller's with a user.",
    args: { noteId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const noteId = checkId(args.noteId, 'noteId');
      const userId = checkId(args.userId, 'userId');
      const [row] = await ctx.db
        .delete(noteShares)
        .where(and(eq(noteShares.noteId, noteId), eq(noteShares.userId, userId)))
        .returning({ noteId: noteShares.noteId });
      if (!row) throw new AuthError('FORBIDDEN', 'No share of a note of yours with this user.');
      return true;
    },
  }),
);

// ---------------------------------------------------------------------------------------
// Helpers

type Tx = Parameters<Parameters<RequestDb['transaction']>[0]>[0];

/**
 * A write that Postgres may refuse, in a savepoint of the request's transaction (that is
 * what ctx.db.transaction is): a refused statement aborts only the savepoint, so the rest of
 * the request (other fields, other mutations of the same operation) goes on and commits.
 * The refusals a caller can cause become coded errors.
 */
async function write<T>(ctx: Context, fn: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await ctx.db.transaction(fn);
  } catch (err) {
    switch (sqlState(err)) {
      // A policy's WITH CHECK, a column the grant leaves out, the is_public trigger.
      case '42501':
        throw cannotChange();
      // A foreign key: here, shareNote with a user that does not exist.
      case '23503':
        throw badInput('No such user.', 'userId');
      default:
        throw err;
    }
  }
}

/** The SQLSTATE of a Postgres error (drizzle wraps the driver's error as its cause). */
function sqlState(err: unknown): string | undefined {
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

const cannotChange = () => new AuthError('FORBIDDEN', 'No note with this id that you may change.');

function checkId(id: string, field: string): string {
  if (!isUuid(id)) throw badInput(`${field} is not a valid id.`, field);
  return id.toLowerCase();
}

function checkTitle(title: string): string {
  const trimmed = title.trim();
  const length = [...trimmed].length;
  if (length < 1 || length > 200) throw badInput('title must have 1 to 200 characters.', 'title');
  return trimmed;
}

function checkBody(body: string): string {
  if ([...body].length > 20000) throw badInput('body may have at most 20000 characters.', 'body');
  return body;
}

function notNull<T>(value: T | null, field: string): T {
  if (value === null) throw badInput(`${field} cannot be null.`, field);
  return value;
}
