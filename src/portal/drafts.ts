// Drafts: what an officer has typed into a certificate form, kept server-side under their user as
// they work (every button of the form saves it, and a small script saves it while they type), so
// that nothing typed is lost to a session that ends, a closed tab or a refusal. A replacement's
// draft names the certificate it replaces.
import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import type { FormState, Kind } from './form.ts';

/** What was typed, and the language it was typed in (a decimal or a country name is read in it). */
export type DraftFields = { items: number; values: Record<string, string>; recipient: string; replace?: string; lang?: string };
export type Draft = { id: string; kind: Kind; fields: DraftFields; updatedAt: Date };

/** At most this many drafts a user: the oldest go first (a draft is a convenience, not a record). */
export const DRAFTS_PER_USER = 200;

const fieldsOf = (state: FormState, replace: string | undefined, lang: string): DraftFields => ({
  items: state.items,
  values: state.values,
  recipient: state.recipient,
  lang,
  ...(replace ? { replace } : {}),
});

/**
 * Saves the form's state: over the owner's draft `id` if it still exists, else as a new draft
 * under an id the server makes, never one the browser names. So a draft signed (and so deleted)
 * cannot come back under its old id from a stale tab, and its old review page signs nothing again;
 * and a draft id of someone else's changes nothing of theirs.
 */
export async function saveDraft(db: Queryable, owner: string, state: FormState, options: { id?: string; replace?: string; lang: string }): Promise<string> {
  const fields = fieldsOf(state, options.replace, options.lang);
  const number = state.values['/number']?.trim().slice(0, 35) || options.replace || null;
  const updated = options.id
    ? await db.query('UPDATE portal_drafts SET kind = $3, number = $4, fields = $5, updated_at = now() WHERE id = $1 AND owner = $2', [options.id, owner, state.kind, number, JSON.stringify(fields)])
    : undefined;
  if (updated?.rowCount) return options.id!;
  const id = randomUUID();
  await db.query('INSERT INTO portal_drafts (id, owner, kind, number, fields) VALUES ($1, $2, $3, $4, $5)', [id, owner, state.kind, number, JSON.stringify(fields)]);
  await db.query(`DELETE FROM portal_drafts WHERE owner = $1 AND id IN (SELECT id FROM portal_drafts WHERE owner = $1 ORDER BY updated_at DESC OFFSET $2)`, [owner, DRAFTS_PER_USER]);
  return id;
}

export async function findDraft(db: Queryable, owner: string, id: string): Promise<Draft | undefined> {
  const { rows } = await db.query<{ id: string; kind: Kind; fields: DraftFields; updated_at: Date }>('SELECT id, kind, fields, updated_at FROM portal_drafts WHERE id = $1 AND owner = $2', [
    id,
    owner,
  ]);
  const row = rows[0];
  return row && { id: row.id, kind: row.kind, fields: row.fields, updatedAt: row.updated_at };
}

export async function deleteDraft(db: Queryable, owner: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM portal_drafts WHERE id = $1 AND owner = $2', [id, owner]);
  return (rowCount ?? 0) > 0;
}

export async function listDrafts(db: Queryable, owner: string): Promise<{ id: string; kind: Kind; number: string | null; updated_at: Date }[]> {
  const { rows } = await db.query<{ id: string; kind: Kind; number: string | null; updated_at: Date }>(
    'SELECT id, kind, number, updated_at FROM portal_drafts WHERE owner = $1 ORDER BY updated_at DESC LIMIT $2',
    [owner, DRAFTS_PER_USER],
  );
  return rows;
}

/** What the officer reviewed: signing goes ahead only if the draft is still exactly this. */
export const draftDigest = (kind: Kind, fields: DraftFields) =>
  createHash('sha256')
    .update(JSON.stringify([kind, fields.items, fields.recipient, fields.replace ?? null, Object.entries(fields.values).sort()]))
    .digest('base64url');

export const stateOf = (draft: Draft): FormState => ({ kind: draft.kind, items: draft.fields.items, values: draft.fields.values, recipient: draft.fields.recipient });
