// Operating a gateway: dead letters (list, inspect, replay, discard), peer suspension and the
// connection test, message search and view, size limits, and Prometheus metrics.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildEnvelope } from '../../src/exchange/envelope.ts';
import { generateSigningKey, sign } from '../../src/exchange/jose.ts';
import { A, api, B, count, deadLetterAt, eventually, exampleCertificate, inboxOfB, issueAndWait, type Pair, publishRaw, startPair } from '../support/gateways.ts';

const LIMIT = 64 * 1024;

describe('operations', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair({ MAX_MESSAGE_BYTES: String(LIMIT) });
  });
  after(async () => {
    await pair.stop();
  });

  it('holds what comes from a suspended peer as a dead letter, and replays it once the peer is resumed', async () => {
    assert.equal((await api(pair.b, 'POST', `/admin/peers/${A}/suspend`)).body.status, 'suspended');
    const co = exampleCertificate();
    const envelope = buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: co });
    const jws = await sign(envelope, await pair.a.keys.signingKey());
    await publishRaw(pair.placeB.amqpUrl, B, jws, { appId: A, messageId: envelope.id, type: 'certificate.issued' });

    const dead = await deadLetterAt(pair.b, envelope.id);
    assert.equal(dead.code, 'UNKNOWN_SENDER');
    assert.equal(dead.status, 'held');
    const detail = (await api(pair.b, 'GET', `/admin/dead-letters/${dead.id}`)).body;
    assert.equal(detail.decoded.payload.body.number, co.number, 'inspectable: the envelope, decoded');
    assert.equal(await count(pair.b, 'received_certificates WHERE number = $1', [co.number]), 0);

    assert.equal((await api(pair.b, 'POST', `/admin/peers/${A}/resume`)).body.status, 'active');
    const replayed = await api(pair.b, 'POST', `/admin/dead-letters/${dead.id}/replay`);
    assert.equal(replayed.status, 200);
    assert.equal(replayed.body.status, 'replayed');
    assert.match(replayed.body.handledBy, /^api:tests#/);
    await eventually(async () => ((await count(pair.b, 'received_certificates WHERE number = $1', [co.number])) === 1 ? true : undefined), 'the replayed CO stored');
    assert.equal((await api(pair.b, 'POST', `/admin/dead-letters/${dead.id}/replay`)).status, 409, 'replayed once');
    assert.equal((await api(pair.b, 'POST', `/admin/dead-letters/${dead.id}/discard`)).status, 409);
  });

  it('discards a dead letter, keeping it for the record', async () => {
    const messageId = randomUUID();
    await publishRaw(pair.placeB.amqpUrl, B, 'not a JWS', { appId: 'XX-NOBODY', messageId });
    const dead = await deadLetterAt(pair.b, messageId);
    assert.equal(dead.code, 'SIGNATURE_INVALID');
    const discarded = await api(pair.b, 'POST', `/admin/dead-letters/${dead.id}/discard`);
    assert.equal(discarded.body.status, 'discarded');
    const held = (await api(pair.b, 'GET', '/admin/dead-letters?status=held')).body.deadLetters;
    assert.ok(!held.some((d: { id: string }) => d.id === dead.id));
    assert.equal((await api(pair.b, 'GET', `/admin/dead-letters/${randomUUID()}`)).status, 404);
  });

  it('dead-letters an oversized message unread (MESSAGE_TOO_LARGE) and stores nothing', async () => {
    const before = await count(pair.b, 'inbox');
    const handled = await inboxOfB(pair).deliver('x'.repeat(LIMIT + 1), { messageId: 'oversized-1' });
    assert.equal(handled.outcome, 'dead');
    assert.equal(handled.outcome === 'dead' && handled.error.code, 'MESSAGE_TOO_LARGE');
    assert.equal((await deadLetterAt(pair.b, 'oversized-1')).code, 'MESSAGE_TOO_LARGE');
    assert.equal(await count(pair.b, 'inbox'), before);
  });

  it('holds messages for a suspended peer, refuses new COs for it, and sends what it held once resumed', async () => {
    const co = await issueAndWait(pair);
    assert.equal((await api(pair.a, 'POST', `/admin/peers/${B}/suspend`)).status, 200);
    const refused = await api(pair.a, 'POST', '/certificates', exampleCertificate());
    assert.equal(refused.status, 422, 'no new certificate for a suspended importing party');
    const cancelled = await api(pair.a, 'POST', `/certificates/${co.number}/cancel`, { reason: 'withdrawn' });
    assert.equal(cancelled.status, 200);
    await eventually(async () => ((await api(pair.a, 'GET', `/messages/${cancelled.body.messageId}`)).body.lastError?.includes('suspended') ? true : undefined), 'the relay holding it');
    const statusAtB = async () => (await api(pair.b, 'GET', `/certificates/${co.number}`)).body.status;
    assert.equal(await statusAtB(), 'valid');
    await api(pair.a, 'POST', `/admin/peers/${B}/resume`);
    await eventually(async () => ((await statusAtB()) === 'cancelled' ? true : undefined), 'the cancellation at B after resuming');
  });

  it("tests the connection to a peer's broker without delivering anything", async () => {
    const before = await count(pair.b, 'inbox');
    const ping = await api(pair.a, 'POST', `/admin/peers/${B}/ping`);
    assert.equal(ping.status, 200);
    assert.equal(ping.body.ok, true, JSON.stringify(ping.body));
    assert.ok(ping.body.roundTripMs >= 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await count(pair.b, 'inbox'), before, "nothing reached B's consumer");
    assert.equal(await count(pair.b, "dead_letters WHERE app_id IS NULL AND message_id LIKE 'ping-%'"), 0);

    const unreachable = { name: 'nowhere', amqpUrl: 'amqp://guest:guest@127.0.0.1:9/', jwks: { keys: [(await generateSigningKey()).toJSON()] }, agreements: [] };
    assert.equal((await api(pair.a, 'PUT', '/admin/peers/XX-NOWHERE', unreachable)).status, 200);
    const failed = await api(pair.a, 'POST', '/admin/peers/XX-NOWHERE/ping');
    assert.equal(failed.body.ok, false);
    assert.match(failed.body.error, /ECONNREFUSED|connect/);
  });

  it('finds messages by certificate number in both directions, and shows the envelope with its receipt', async () => {
    const co = await issueAndWait(pair);
    const atB = await api(pair.b, 'GET', `/admin/messages?number=${co.number}`);
    assert.equal(atB.status, 200);
    const received = atB.body.messages.find((m: { direction: string }) => m.direction === 'inbound');
    assert.deepEqual([received.type, received.peer, received.status], ['certificate.issued', A, 'accepted']);
    const viewB = (await api(pair.b, 'GET', `/admin/messages/${received.messageId}`)).body;
    assert.equal(viewB.envelope.payload.body.number, co.number);
    assert.equal(viewB.receipt.payload.type, 'receipt', 'the receipt B answered with');
    assert.equal(viewB.receipt.payload.inReplyTo, received.messageId);

    const sent = await eventually(async () => {
      const { body } = await api(pair.a, 'GET', `/admin/messages?number=${co.number}&direction=outbound&status=accepted`);
      return body.messages[0];
    }, "A's accepted message");
    const viewA = (await api(pair.a, 'GET', `/admin/messages/${sent.messageId}`)).body;
    assert.equal(viewA.receipt.payload.from, B, "the peer's receipt");
    assert.equal(viewA.receipt.payload.body.status, 'accepted');

    const byPeerAndTime = await api(pair.b, 'GET', `/admin/messages?peer=${A}&type=certificate.issued&since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    assert.ok(byPeerAndTime.body.messages.some((m: { messageId: string }) => m.messageId === received.messageId));
    const none = await api(pair.b, 'GET', `/admin/messages?number=${co.number}&until=2000-01-01T00:00:00Z`);
    assert.deepEqual(none.body.messages, []);
    assert.equal((await api(pair.b, 'GET', '/admin/messages?since=yesterday')).status, 400);
    assert.equal((await api(pair.b, 'GET', `/admin/messages/${randomUUID()}`)).status, 404);
  });

  it('exports Prometheus metrics: traffic by type, peer and code, backlog, receipt latency, HTTP latency', async () => {
    await issueAndWait(pair);
    await inboxOfB(pair).deliver('still not a JWS', { messageId: 'metrics-garbage' });
    const metricsB = await api(pair.b, 'GET', '/metrics');
    assert.equal(metricsB.status, 200);
    assert.match(metricsB.contentType, /text\/plain/);
    const value = (text: string, series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    assert.ok(value(metricsB.body, `eco_messages_received_total{type="certificate.issued",peer="${A}",outcome="accepted"}`) >= 1);
    assert.ok(value(metricsB.body, 'eco_messages_rejected_total{type="certificate.issued",peer="unknown",code="SIGNATURE_INVALID"}') >= 1);
    assert.match(metricsB.body, /eco_dead_letters_held \d+/);
    assert.ok((await count(pair.b, "outbox WHERE type = 'receipt' AND status = 'sent'")) >= 1);
    assert.equal(value(metricsB.body, 'eco_outbox_messages{status="sent"}'), 0, 'receipts B sent are not backlog: nothing answers them');
    assert.equal(value(metricsB.body, 'eco_outbox_oldest_pending_seconds'), 0);

    const metricsA = await eventually(async () => {
      const text = (await api(pair.a, 'GET', '/metrics')).body as string;
      return value(text, `eco_receipt_latency_seconds_count{peer="${B}"}`) >= 1 ? text : undefined;
    }, 'a receipt latency observation at A');
    assert.ok(value(metricsA, `eco_messages_sent_total{type="certificate.issued",peer="${B}"}`) >= 1);
    assert.ok(!Number.isNaN(value(metricsA, 'eco_outbox_messages{status="queued"}')));
    assert.ok(!Number.isNaN(value(metricsA, 'eco_outbox_oldest_pending_seconds')));
    assert.match(metricsA, /eco_http_request_duration_seconds_count\{method="POST",route="\/certificates",status="201"\} \d+/);
    assert.equal((await api(pair.a, 'GET', '/metrics', undefined, { authorization: '' })).status, 401, 'metrics need an admin key');
  });

  it('gives the console its overview: peers with health and traffic, backlog, dead letters, recent messages', async () => {
    const overview = await api(pair.b, 'GET', '/admin/overview');
    assert.equal(overview.status, 200);
    const peerA = overview.body.peers.find((p: { partyId: string }) => p.partyId === A);
    assert.equal(peerA.health, 'ok');
    assert.ok(peerA.received.accepted >= 1);
    assert.ok(overview.body.recentMessages.length >= 1);
    assert.equal(overview.body.backlog.awaitingReceipt, 0, 'B has sent only receipts, which await nothing');
    assert.ok(overview.body.recentRejections.every((m: { status: string }) => m.status === 'rejected'));
    assert.ok(overview.body.deadLetters.every((d: { status: string }) => d.status === 'held'));
    const console = await api(pair.b, 'GET', '/console', undefined, { authorization: '' });
    assert.equal(console.status, 200);
    assert.match(console.contentType, /text\/html/);
  });
});
