import { CreateNoteDocument, MyNotesDocument } from './documents.ts';
import { request } from './request.ts';

// Compiled by `npm run typecheck`, never run: the generated types catch a wrong variable and
// a field the document does not select. Were they `any`, each @ts-expect-error below would
// be unused, and that is a compile error too.
export async function typedClientProof(url: string, token: string): Promise<string> {
  // @ts-expect-error CreateNoteInput has `title`, not `titel`
  await request(url, CreateNoteDocument, { input: { titel: 'typo' } }, token);
  const { me } = await request(url, MyNotesDocument, { first: 3 }, token);
  const first = me?.notes[0];
  // @ts-expect-error MyNotes does not select `body`
  return first?.body ?? '';
}
