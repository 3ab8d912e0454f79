// Reconciliation (PROFILE 1.1) between two real gateways: a statement of what one side sent and
// received in a period, answered by the other; a message lost on the way is found and sent again.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { tallyOf } from '../../src/reconciliation/tally.ts';
import { A, api, B, count, eventually, inboxOfB, issueAndWait, type Pair, type ReconciliationRow, reconcile, startPair } from '../support/gateways.ts';

/** The message id and digest of what A sent B for a certificate. */
async function sentLine(pair: Pair, number: string): Promise<{ id: string; digest: string }> {
  const { rows } = await pair.a.db.query<{ id: string; digest: string }>(
    "SELECT id::text AS id, translate(rtrim(encode(sha256(convert_to(body, 'UTF8')), 'base64'), '='), '+/', '-_') AS digest FROM outbox WHERE certificate_number = $1",
    [number],
  );
  return rows[0]!;
}

describe('reconciliation (profile 1.1)', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  it('answers "match" when both sides hold the same messages, in reply to the statement, with receipts both ways', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const numbers = [];
    for (let i = 0; i < 3; i++) numbers.push((await issueAndWait(pair)).number);
    const end = new Date(Date.now() + 1000).toISOString();
    const answered = await reconcile(pair.a, B, { start, end });
    assert.deepEqual([answered.result, answered.missingHere, answered.missingThere, answered.digestMismatch], ['match', [], [], []]);
    // The answer names the statement's message, and B keeps what it answered.
    assert.equal(await count(pair.a, "inbox WHERE type = 'reconciliation.answered' AND in_reply_to = $1 AND status = 'accepted'", [answered.messageId]), 1);
    const atB = await api(pair.b, 'GET', `/admin/reconciliations?peer=${A}&direction=received`);
    assert.deepEqual(
      (atB.body as ReconciliationRow[]).filter((r) => r.statementId === answered.statementId).map((r) => r.result),
      ['match'],
    );
    // Both messages get receipts like any message.
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${answered.messageId}`)).body.status === 'accepted' ? true : undefined), "B's receipt for the statement");
  });

  it('finds a CO lost at the importing side from its statement, and the exporting side sends it again', async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const kept = await issueAndWait(pair);
    const lost = await issueAndWait(pair);
    const end = new Date(Date.now() + 1000).toISOString();
    const lostLine = await sentLine(pair, lost.number);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${lostLine.id}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    // B loses the CO (a restore from an old backup, say): its row and its inbox row are gone.
    await pair.b.db.query('DELETE FROM received_certificates WHERE number = $1', [lost.number]);
    await pair.b.db.query('DELETE FROM inbox WHERE message_id = $1', [lostLine.id]);
    assert.equal((await api(pair.b, 'GET', `/certificates/${lost.number}`)).status, 404);
    // Older than RELAY_MAX_AGE_SECONDS (a day): sent again all the same, not given up on unsent.
    await pair.a.db.query("UPDATE outbox SET created_at = now() - interval '2 days' WHERE id = $1", [lostLine.id]);

    // B's statement says what it received; A's answer lists, and A resends, what B lacks.
    const answered = await reconcile(pair.b, A, { start, end });
    assert.equal(answered.result, 'mismatch');
    assert.ok(
      answered.missingThere.some((l) => l.id === lostLine.id && l.digest === lostLine.digest),
      JSON.stringify(answered.missingThere),
    );
    const atB = await eventually(async () => {
      const r = await api(pair.b, 'GET', `/certificates/${lost.number}`);
      return r.status === 200 ? r : undefined;
    }, 'the lost CO at B again');
    assert.equal(atB.body.signatureVerified, true);
    assert.equal(await count(pair.b, 'received_certificates WHERE number = $1', [kept.number]), 1, 'what B held is stored once');
    // Every message sent again is back to its receipt's verdict at A: accepted, none dead.
    const resent = answered.missingThere.map((l) => l.id);
    await eventually(async () => ((await count(pair.a, "outbox WHERE id = ANY($1::uuid[]) AND status = 'accepted'", [resent])) === resent.length ? true : undefined), 'the resent messages accepted');
    assert.equal(await count(pair.a, "outbox WHERE status = 'dead'"), 0);
    // Now both sides agree.
    const again = await reconcile(pair.b, A, { start, end });
    assert.equal(again.result, 'match');
  });

  it('sends the daily statement once per peer and period after 00:30 UTC, however often the schedule runs', async () => {
    // Not to a peer registered after the period: B is "registered" at A since 2019 for this test.
    assert.equal(await pair.a.reconciliations.runSchedule(new Date('2020-01-02T00:45:00Z')), 0, 'B was registered after that day');
    await pair.a.db.query("UPDATE peers SET created_at = '2019-12-31T00:00:00Z' WHERE party_id = $1", [B]);
    assert.equal(await pair.a.reconciliations.runSchedule(new Date('2020-01-02T00:10:00Z')), 0, 'not before 00:30 UTC');
    const runs = await Promise.all([pair.a.reconciliations.runSchedule(new Date('2020-01-02T00:45:00Z')), pair.a.reconciliations.runSchedule(new Date('2020-01-02T00:46:00Z'))]);
    assert.ok(runs[0] + runs[1] <= 1, `sent ${runs}`);
    assert.equal(await pair.a.reconciliations.runSchedule(new Date('2020-01-02T23:00:00Z')), 0);
    const row = await eventually(async () => {
      const list = await api(pair.a, 'GET', `/admin/reconciliations?peer=${B}&direction=sent`);
      return (list.body as ReconciliationRow[]).find((r) => r.scheduled && r.periodStart === '2020-01-01T00:00:00.000Z' && r.result);
    }, 'the answer to the daily statement');
    assert.equal(row.result, 'match');
    assert.equal(await count(pair.a, "reconciliations WHERE scheduled AND period_start = '2020-01-01T00:00:00Z'"), 1);
  });

  it('refuses an operator’s period that is empty or too long, and a peer it does not know', async () => {
    const now = Date.now();
    const at = (ms: number) => new Date(now + ms).toISOString();
    const before = await count(pair.a, "reconciliations WHERE direction = 'sent'");
    for (const [body, status] of [
      [{ peer: B, periodStart: at(0), periodEnd: at(0) }, 422],
      [{ peer: B, periodStart: at(-32 * 86_400_000), periodEnd: at(0) }, 422],
      [{ peer: 'ZZ-NOBODY', periodStart: at(-1000), periodEnd: at(0) }, 404],
      [{ peer: B, periodStart: 'yesterday', periodEnd: at(0) }, 400],
    ] as const) {
      const r = await api(pair.a, 'POST', '/admin/reconciliations', body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(r.contentType, /problem\+json/);
    }
    assert.equal(await count(pair.a, "reconciliations WHERE direction = 'sent'"), before);
  });

  it('answers a malformed statement with SCHEMA_INVALID at its path, and an answer to no statement of ours with NOT_FOUND', async () => {
    const inbox = inboxOfB(pair);
    const answersBefore = await count(pair.b, "outbox WHERE type = 'reconciliation.answered'");
    const period = { periodStart: new Date(Date.now() - 3_600_000).toISOString(), periodEnd: new Date().toISOString() };
    const tally = { count: 0, buckets: {} };
    const cases: [object, string][] = [
      [{ statementId: randomUUID(), ...period, periodEnd: period.periodStart, sent: tally, received: tally }, '/body/periodEnd'],
      [{ statementId: randomUUID(), ...period, sent: { count: 1, buckets: { g: { count: 1, root: 'x'.repeat(43) } } }, received: tally }, '/body/sent/buckets'],
      [{ statementId: randomUUID(), ...period, sent: { count: -1, buckets: {} }, received: tally }, '/body/sent/count'],
      [{ statementId: 'not-a-uuid', ...period, sent: tally, received: tally }, '/body/statementId'],
      // Valid RFC 3339, but no date Postgres keeps: refused, not a failed transaction redelivered.
      [{ statementId: randomUUID(), periodStart: '0000-01-01T00:00:00Z', periodEnd: period.periodEnd, sent: tally, received: tally }, '/body/periodStart'],
    ];
    for (const [body, path] of cases) {
      const { envelope, jws } = await inbox.fromA('reconciliation.statement', body);
      const handled = await inbox.deliver(jws, { messageId: envelope.id, type: envelope.type });
      assert.equal(handled.outcome, 'rejected', path);
      const errors = handled.outcome === 'rejected' ? handled.errors : [];
      assert.ok(
        errors.some((e) => e.code === 'SCHEMA_INVALID' && e.path?.startsWith(path)),
        `${path}: ${JSON.stringify(errors)}`,
      );
    }
    // A line as text whose id is no UUID (it would break the resend's uuid[] cast).
    const badLine = { statementId: randomUUID(), result: 'mismatch', missingHere: [`${'-'.repeat(36)} ${'A'.repeat(43)}\n`], missingThere: [], digestMismatch: [] };
    const bad = await inbox.fromA('reconciliation.answered', badLine);
    const refused = await inbox.deliver(bad.jws, { messageId: bad.envelope.id, type: bad.envelope.type });
    assert.deepEqual(refused.outcome === 'rejected' && refused.errors.map((e) => [e.code, e.path]), [['SCHEMA_INVALID', '/body/missingHere/0']]);
    const answer = { statementId: randomUUID(), result: 'match', missingHere: [], missingThere: [], digestMismatch: [] };
    const { envelope, jws } = await inbox.fromA('reconciliation.answered', answer);
    const handled = await inbox.deliver(jws, { messageId: envelope.id, type: envelope.type });
    assert.equal(handled.outcome, 'rejected');
    assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => [e.code, e.path]), [['NOT_FOUND', '/body/statementId']]);
    // Nothing was answered to any of them but their receipts.
    assert.equal(await count(pair.b, "outbox WHERE type = 'reconciliation.answered'"), answersBefore);
  });
});

describe('reconciliation (profile 1.2)', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  const period = () => ({ start: new Date(Date.now() - 60_000).toISOString(), end: new Date(Date.now() + 60_000).toISOString() });

  const honestStatementShape = (p: { start: string; end: string }) => ({ periodStart: p.start, periodEnd: p.end, sent: tallyOf([]), received: tallyOf([]) });

  /** What B holds of its traffic with A in a period, tallied as A would state it. */
  async function honestStatement(p: { start: string; end: string }) {
    const received = (
      await pair.b.db.query<{ id: string; digest: string }>(
        "SELECT message_id::text AS id, digest FROM inbox WHERE from_party = $1 AND type NOT IN ('receipt', 'reconciliation.statement', 'reconciliation.answered') AND envelope_sent_at >= $2 AND envelope_sent_at < $3",
        [A, p.start, p.end],
      )
    ).rows;
    return { statementId: randomUUID(), periodStart: p.start, periodEnd: p.end, sent: tallyOf(received), received: tallyOf([]) };
  }

  it('refuses a statement whose counts contradict its buckets, and never answers it "match" (the 1e9 case)', async () => {
    const p = period();
    await issueAndWait(pair);
    const inbox = inboxOfB(pair);
    const honest = await honestStatement(p);
    const bucket = Object.keys(honest.sent.buckets)[0] as keyof typeof honest.sent.buckets;
    const cases: [object, string][] = [
      [{ ...honest, statementId: randomUUID(), sent: { ...honest.sent, count: 1e9 } }, '/body/sent/count'],
      [{ ...honest, statementId: randomUUID(), sent: { count: 2, buckets: { [bucket]: { ...honest.sent.buckets[bucket]!, count: 2 } } } }, `/body/sent/buckets/${bucket}/count`],
      [
        { ...honest, statementId: randomUUID(), received: { count: 1, buckets: { '0': { count: 1, root: tallyOf([]).buckets['0']?.root ?? '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU' } } } },
        '/body/received/buckets/0/count',
      ],
    ];
    const answersBefore = await count(pair.b, "outbox WHERE type = 'reconciliation.answered'");
    for (const [body, path] of cases) {
      const { envelope, jws } = await inbox.fromA('reconciliation.statement', body);
      const handled = await inbox.deliver(jws, { messageId: envelope.id, type: envelope.type });
      assert.equal(handled.outcome, 'rejected', `${path}: ${JSON.stringify(handled)}`);
      assert.deepEqual(handled.outcome === 'rejected' && handled.errors.map((e) => [e.code, e.path]), [['SCHEMA_INVALID', path]]);
    }
    assert.equal(await count(pair.b, "outbox WHERE type = 'reconciliation.answered'"), answersBefore, 'no answer, "match" least of all');
  });

  it('keeps statement ids per sender: the same message again is a duplicate, the same id in another message SCHEMA_INVALID', async () => {
    const p = period();
    const inbox = inboxOfB(pair);
    const statement = await honestStatement(p);
    const answersBefore = await count(pair.b, "outbox WHERE type = 'reconciliation.answered'");
    const first = await inbox.fromA('reconciliation.statement', statement);
    assert.equal((await inbox.deliver(first.jws, { messageId: first.envelope.id, type: first.envelope.type })).outcome, 'accepted');
    assert.equal((await inbox.deliver(first.jws, { messageId: first.envelope.id, type: first.envelope.type })).outcome, 'duplicate');
    const other = await inbox.fromA('reconciliation.statement', { ...statement, periodStart: new Date(Date.parse(p.start) - 1000).toISOString() });
    const reused = await inbox.deliver(other.jws, { messageId: other.envelope.id, type: other.envelope.type });
    assert.deepEqual(reused.outcome === 'rejected' && reused.errors.map((e) => [e.code, e.path]), [['SCHEMA_INVALID', '/body/statementId']]);
    assert.equal(await count(pair.b, "outbox WHERE type = 'reconciliation.answered'"), answersBefore + 1, 'answered once');
    assert.equal(await count(pair.b, "reconciliations WHERE peer = $1 AND direction = 'received' AND statement_id = $2", [A, statement.statementId]), 1);
  });

  it('sends its counter-statement once per peer and period within 10 minutes, however many differing statements arrive', async () => {
    const p = period();
    const inbox = inboxOfB(pair);
    const countersBefore = await count(pair.b, "reconciliations WHERE direction = 'sent' AND peer = $1 AND period_start = $2", [A, p.start]);
    // A line B never received (a root no set of B's lines has): B lacks something, so it states its own.
    const claimsMore = () => ({ ...honestStatementShape(p), statementId: randomUUID(), sent: { count: 1, buckets: { '0': { count: 1, root: 'Q'.repeat(43) } } } });
    for (let i = 0; i < 3; i++) {
      const { envelope, jws } = await inbox.fromA('reconciliation.statement', claimsMore());
      assert.equal((await inbox.deliver(jws, { messageId: envelope.id, type: envelope.type })).outcome, 'accepted');
    }
    assert.equal(await count(pair.b, "reconciliations WHERE direction = 'sent' AND peer = $1 AND period_start = $2", [A, p.start]), countersBefore + 1, 'one counter-statement, not three');
  });

  it('repairs both directions in one exchange: the receiver of a differing statement sends its own at once', async () => {
    const p = period();
    // A loses a use B reported (certificate.utilized), and B loses a CO A sent.
    const used = await issueAndWait(pair);
    const check = await api(pair.b, 'POST', '/clearance/checks', {
      declarationRef: `D-${randomUUID()}`,
      certificateNumber: used.number,
      exportCountry: 'KR',
      importer: { id: used.importer!.id },
      items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '3', unit: 'NAR' } }],
      confirm: true,
    });
    assert.equal(check.body.status, 'confirmed');
    const report = await eventually(async () => {
      const { rows } = await pair.a.db.query<{ message_id: string }>('SELECT message_id FROM reported_utilizations WHERE number = $1', [used.number]);
      return rows[0]?.message_id;
    }, 'the use at A');
    const lost = await issueAndWait(pair);
    const lostId = (await pair.a.db.query<{ id: string }>("SELECT id FROM outbox WHERE certificate_number = $1 AND type = 'certificate.issued'", [lost.number])).rows[0]!.id;
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${lostId}`)).body.status === 'accepted' ? true : undefined), 'the receipt at A');
    await pair.a.db.query('DELETE FROM reported_utilizations WHERE message_id = $1', [report]);
    await pair.a.db.query('DELETE FROM inbox WHERE from_party = $1 AND message_id = $2', [B, report]);
    await pair.b.db.query('DELETE FROM received_certificates WHERE number = $1', [lost.number]);
    await pair.b.db.query('DELETE FROM inbox WHERE from_party = $1 AND message_id = $2', [A, lostId]);
    const countersBefore = await count(pair.b, "reconciliations WHERE direction = 'sent' AND peer = $1", [A]);

    // One statement, from A only.
    const answered = await reconcile(pair.a, B, p);
    assert.equal(answered.result, 'mismatch');
    await eventually(async () => ((await api(pair.b, 'GET', `/certificates/${lost.number}`)).status === 200 ? true : undefined), 'the lost CO at B again');
    await eventually(async () => ((await count(pair.a, 'reported_utilizations WHERE number = $1', [used.number])) === 1 ? true : undefined), 'the lost use at A again');
    assert.equal(await count(pair.b, "reconciliations WHERE direction = 'sent' AND peer = $1", [A]), countersBefore + 1, "B's counter-statement, sent by itself");
    assert.equal(await count(pair.a, 'reported_utilizations WHERE number = $1', [used.number]), 1, 'stored once');
    assert.equal((await reconcile(pair.a, B, p)).result, 'match', 'both sides agree afterwards');
  });
});
