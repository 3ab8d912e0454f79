// A hostile review of reconciliation (PROFILE 1.1): what a resend does to a message's attempts, age
// and verdict, and bounds on what an operator asks for. Two limits it found are documented in
// docs/wire.md instead (ids in upper case; a resend older than the sentAt window).
import assert from 'node:assert/strict';

import { after, before, describe, it } from 'node:test';
import { RESEND_QUIET_SECONDS, RESENDS_PER_SECOND_PER_PEER, resendMessages } from '../../src/outbound/index.ts';
import { A, api, B, count, eventually, inboxOfB, issueAndWait, type Pair, reconcile, startPair } from '../support/gateways.ts';

/** A's outbox row of the CO message it sent B for `number`. */
async function sentRow(pair: Pair, number: string): Promise<{ id: string; sent_at: Date }> {
  const { rows } = await pair.a.db.query<{ id: string; sent_at: Date }>("SELECT id::text AS id, sent_at FROM outbox WHERE certificate_number = $1 AND type = 'certificate.issued'", [number]);
  return rows[0]!;
}

/** Sends A's message to B again (as a reconciliation answer would) and returns its status once A's relay has handled it. */
async function statusAfterResend(pair: Pair, id: string): Promise<string> {
  assert.equal(await resendMessages(pair.a.db, B, [id]), 1);
  return eventually(async () => {
    const s = (await pair.a.db.query<{ status: string }>('SELECT status FROM outbox WHERE id = $1', [id])).rows[0]!.status;
    return s === 'queued' ? undefined : s;
  }, 'A to handle the resend');
}

/** B loses a CO it had received (restored from an old backup, say). */
async function loseAtB(pair: Pair, number: string, messageId: string): Promise<void> {
  await pair.b.db.query('DELETE FROM received_certificates WHERE number = $1', [number]);
  await pair.b.db.query('DELETE FROM inbox WHERE message_id = $1', [messageId]);
}

describe('reconciliation review', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  it('resends a message A gave up on after RELAY_MAX_ATTEMPTS when B reports it missing (the resend must not count old attempts)', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const lost = await issueAndWait(pair);
    const end = new Date(Date.now() + 1000).toISOString();
    const row = await sentRow(pair, lost.number);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${row.id}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    // The usual way a message gets lost: published, no receipt ever came, A's relay gave up after
    // RELAY_MAX_ATTEMPTS (25) re-sends, and B does not hold it.
    await pair.a.db.query("UPDATE outbox SET status = 'dead', attempts = 26, receipt = NULL, receipt_at = NULL, receipt_errors = NULL, next_attempt_at = 'infinity' WHERE id = $1", [row.id]);
    await loseAtB(pair, lost.number, row.id);

    const answered = await reconcile(pair.b, A, { start, end });
    assert.equal(answered.result, 'mismatch');
    assert.ok(
      answered.missingThere.some((l) => l.id === row.id),
      'A lists the message as missing at B and says it resends it',
    );
    // A's relay claims it, counts attempt 27 > 25 and marks it dead again without publishing it.
    const status = await eventually(async () => {
      const s = (await pair.a.db.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM outbox WHERE id = $1', [row.id])).rows[0]!;
      return s.status === 'queued' ? undefined : s;
    }, 'A to handle the resend');
    const atB = await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${lost.number}`)).status === 200 ? true : undefined), 'the CO at B again', 10_000).catch(() => false);
    assert.equal(atB, true, `the resend never reached B: at A the message is ${JSON.stringify(status)}`);
  });

  it('keeps an accepted message accepted however often peers ask for it again', async () => {
    const co = await issueAndWait(pair);
    const row = await sentRow(pair, co.number);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${row.id}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    // 25 statements (or answers) that list it: each resend is one more relay attempt. Shown here as
    // the count those resends leave, then one more resend.
    await pair.a.db.query('UPDATE outbox SET attempts = 25 WHERE id = $1', [row.id]);
    const status = await statusAfterResend(pair, row.id);
    assert.equal(status, 'accepted', 'a message holding its receipt went dead because a courtesy resend was "given up"');
  });

  it('gives up on a resend that holds a receipt by returning it to that verdict, not by marking it dead', async () => {
    const co = await issueAndWait(pair);
    const row = await sentRow(pair, co.number);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${row.id}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    // Resent, then not published within RELAY_MAX_AGE_SECONDS (the peer's broker down for a day).
    await pair.a.db.query("UPDATE outbox SET status = 'queued', next_attempt_at = now(), resent_at = now() - interval '2 days' WHERE id = $1", [row.id]);
    const status = await eventually(async () => {
      const s = (await pair.a.db.query<{ status: string }>('SELECT status FROM outbox WHERE id = $1', [row.id])).rows[0]!.status;
      return s === 'queued' ? undefined : s;
    }, 'the relay to give up');
    assert.equal(status, 'accepted');
  });

  it('restores the verdict of the receipt a resent message holds, not one guessed from the number of errors', async () => {
    const co = await issueAndWait(pair);
    const row = await sentRow(pair, co.number);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${row.id}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    // What recordReceipt keeps for an `accepted` receipt that carries errors (the receipt schema,
    // like PROFILE, allows it: e.g. an independent peer's warnings).
    await pair.a.db.query(`UPDATE outbox SET receipt_errors = '[{"code":"SCHEMA_INVALID","path":"/body/remarks","message":"ignored"}]' WHERE id = $1`, [row.id]);
    const status = await statusAfterResend(pair, row.id);
    assert.equal(status, 'accepted', 'the peer accepted it; after the resend A records it as rejected');
  });

  it('resends a message at most once per quiet period however many statements list it, and spreads a peer’s resends out', async () => {
    // Statements and answers both resend through resendMessages: 40 statements listing the same
    // messages (an empty statement lists a whole period) used to resend them 40 times, all at once.
    const rows = [];
    for (let i = 0; i < 3; i++) rows.push(await sentRow(pair, (await issueAndWait(pair)).number));
    const ids = rows.map((r) => r.id);
    await eventually(async () => ((await count(pair.a, "outbox WHERE id = ANY($1::uuid[]) AND status = 'accepted'", [ids])) === 3 ? true : undefined), 'the receipts at A');
    assert.equal(await resendMessages(pair.a.db, B, ids), 3);
    const { rows: due } = await pair.a.db.query<{ gap: number }>(
      'SELECT extract(epoch FROM next_attempt_at - lag(next_attempt_at) OVER (ORDER BY next_attempt_at))::float8 AS gap FROM outbox WHERE id = ANY($1::uuid[]) ORDER BY next_attempt_at',
      [ids],
    );
    const gaps = due.slice(1).map((r) => Math.round(r.gap * 1000));
    assert.deepEqual(gaps, [1000 / RESENDS_PER_SECOND_PER_PEER, 1000 / RESENDS_PER_SECOND_PER_PEER]);
    // Sent again and accepted, they are not resent for the statements that follow.
    await eventually(async () => ((await count(pair.a, "outbox WHERE id = ANY($1::uuid[]) AND status = 'accepted'", [ids])) === 3 ? true : undefined), 'the resends handled');
    let resent = 0;
    for (let i = 0; i < 40; i++) {
      resent += await resendMessages(pair.a.db, B, ids);
      await eventually(async () => ((await count(pair.a, "outbox WHERE id = ANY($1::uuid[]) AND status = 'queued'", [ids])) === 0 ? true : undefined), 'no resend waiting');
    }
    assert.equal(resent, 0, 'resent again within the quiet period');
    // Once the quiet period is over, a statement may have them resent again.
    await pair.a.db.query(`UPDATE outbox SET resent_at = now() - make_interval(secs => $2 + 1) WHERE id = ANY($1::uuid[])`, [ids, RESEND_QUIET_SECONDS]);
    assert.equal(await resendMessages(pair.a.db, B, ids), 3);
  });

  it('sends a duplicate its receipt again even when the receipt is older than RELAY_MAX_AGE_SECONDS', async () => {
    const co = await issueAndWait(pair);
    const row = await sentRow(pair, co.number);
    const body = (await pair.a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [row.id])).rows[0]!.body;
    const receiptId = await eventually(
      async () => (await pair.b.db.query<{ receipt_id: string }>('SELECT receipt_id::text FROM inbox WHERE message_id = $1', [row.id])).rows[0]?.receipt_id,
      'B’s receipt',
    );
    await eventually(async () => ((await count(pair.b, "outbox WHERE id = $1 AND status = 'sent'", [receiptId])) === 1 ? true : undefined), 'B’s receipt sent');
    // The receipt was queued two days ago; A (which never got it, or reconciles) sends the CO again.
    await pair.b.db.query("UPDATE outbox SET created_at = now() - interval '2 days' WHERE id = $1", [receiptId]);
    const inbox = inboxOfB(pair);
    const handled = await inbox.deliver(body, { messageId: row.id, type: 'certificate.issued' });
    assert.equal(handled.outcome, 'duplicate');
    const status = await eventually(async () => {
      const s = (await pair.b.db.query<{ status: string; last_error: string | null }>('SELECT status, last_error FROM outbox WHERE id = $1', [receiptId])).rows[0]!;
      return s.status === 'queued' ? undefined : s;
    }, 'B to handle the requeued receipt');
    assert.equal(status.status, 'sent', `the duplicate's receipt was never sent: ${JSON.stringify(status)}`);
  });
});

describe('reconciliation review: operator input and encryption', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair({}, { encrypt: true });
  });
  after(async () => {
    await pair.stop();
  });

  it('refuses an operator’s period Postgres cannot keep with a 4xx, as it refuses a peer’s', async () => {
    const statuses: Record<string, number> = {};
    for (const [periodStart, periodEnd] of [
      ['0000-01-01T00:00:00Z', '0000-01-02T00:00:00Z'],
      ['9999-12-31T20:00:00-14:00', '9999-12-31T23:00:00-14:00'],
    ] as const) {
      statuses[periodStart] = (await api(pair.a, 'POST', '/admin/reconciliations', { peer: B, periodStart, periodEnd })).status;
    }
    // Year 0, and year 10000 once the offset is applied: refused by the schema, not a 500 from Postgres.
    assert.deepEqual(statuses, { '0000-01-01T00:00:00Z': 400, '9999-12-31T20:00:00-14:00': 400 });
  });

  it('(sound) matches over an encrypted pair: both sides take the digest of the JWE bytes', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 3; i++) await issueAndWait(pair);
    const end = new Date(Date.now() + 1000).toISOString();
    const answered = await reconcile(pair.a, B, { start, end });
    assert.equal(answered.result, 'match');
    const back = await reconcile(pair.b, A, { start, end });
    assert.equal(back.result, 'match');
  });
});
