// The hash-chained audit log: state changes are appended with their actor, the chain verifies,
// and a changed or removed entry is reported as the first broken link.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sealPending, verifyChain } from '../../src/audit/index.ts';
import { A, api, B, eventually, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

describe('audit log', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.stop();
  });

  it('records issue, cancel, messages, receipts and admin actions with their actor', async () => {
    const co = await issueAndWait(pair);
    assert.equal((await api(pair.a, 'POST', `/certificates/${co.number}/cancel`, { reason: 'issued in error' })).status, 200);
    const created = await api(pair.a, 'POST', '/admin/api-keys', { name: 'auditor', roles: ['admin'] });

    const actions = async (gateway: typeof pair.a, subject: string) =>
      (await gateway.db.query<{ action: string; actor: string }>('SELECT action, actor FROM audit_log WHERE subject = $1 ORDER BY id', [subject])).rows;
    const atA = await actions(pair.a, co.number);
    assert.deepEqual(
      atA.map((r) => r.action),
      ['certificate.issued', 'certificate.cancelled'],
    );
    assert.ok(
      atA.every((r) => /^api:tests#[0-9a-f]{8}$/.test(r.actor)),
      'the API client that did it',
    );
    assert.deepEqual(
      (await actions(pair.a, created.body.client.id)).map((r) => r.action),
      ['api-key.created'],
    );

    const received = await eventually(async () => {
      const { rows } = await pair.b.db.query<{ actor: string; data: { type: string } }>("SELECT actor, data FROM audit_log WHERE action = 'message.accepted' AND data->>'certificateNumber' = $1", [
        co.number,
      ]);
      return rows.length === 2 ? rows : undefined;
    }, "B's audit of both messages");
    assert.deepEqual(received.map((r) => r.data.type).sort(), ['certificate.cancelled', 'certificate.issued']);
    assert.ok(received.every((r) => r.actor === `peer:${A}`));
    const receipts = await eventually(async () => {
      const { rows } = await pair.a.db.query("SELECT 1 FROM audit_log WHERE action = 'message.accepted' AND actor = $1 AND data->>'type' = 'receipt'", [`peer:${B}`]);
      return rows.length >= 2 ? rows : undefined;
    }, "A's audit of B's receipts");
    assert.ok(receipts.length >= 2);
  });

  it('verifies the chain, then finds a changed entry and a removed one', async () => {
    const report = await api(pair.a, 'GET', '/admin/audit/verify');
    assert.equal(report.status, 200);
    assert.equal(report.body.valid, true);
    assert.equal(report.body.firstBroken, null);
    assert.ok(report.body.entries >= 5);
    assert.match(report.body.head.hash, /^[0-9a-f]{64}$/);

    const db = pair.a.db;
    const target = (await db.query<{ id: number; data: object }>('SELECT id, data FROM audit_log WHERE position = 3')).rows[0]!;
    await db.query(`UPDATE audit_log SET data = data || '{"reason": "quietly changed"}' WHERE id = $1`, [target.id]);
    const tampered = (await api(pair.a, 'GET', '/admin/audit/verify')).body;
    assert.equal(tampered.valid, false);
    assert.deepEqual(tampered.firstBroken, { position: 3, id: target.id, reason: 'the entry was changed after it was sealed' });

    await db.query('UPDATE audit_log SET data = $2 WHERE id = $1', [target.id, JSON.stringify(target.data)]);
    assert.equal((await api(pair.a, 'GET', '/admin/audit/verify')).body.valid, true, 'restored, it verifies again');

    const removed = (await db.query<{ id: number }>('DELETE FROM audit_log WHERE position = 4 RETURNING id')).rows[0]!;
    const gap = (await api(pair.a, 'GET', '/admin/audit/verify')).body;
    assert.equal(gap.valid, false);
    assert.equal(gap.firstBroken.position, 4, `entry ${removed.id} is missing`);
  });

  it('chains entries appended by concurrent transactions in one unbroken order', async () => {
    const db = pair.b.db;
    await Promise.all(Array.from({ length: 200 }, (_, i) => db.query("INSERT INTO audit_log (actor, action, subject) VALUES ('test', 'test.concurrent', $1)", [String(i)])));
    await sealPending(db);
    const report = await verifyChain(db);
    assert.equal(report.valid, true);
    assert.equal(report.pending, 0);
    const { rows } = await db.query<{ n: number; max: number }>('SELECT count(*)::int AS n, max(position)::int AS max FROM audit_log');
    assert.equal(rows[0]!.max, rows[0]!.n, 'positions 1..n with no gap');
  });
});
