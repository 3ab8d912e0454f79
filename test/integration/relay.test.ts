// The relay's promises: retry with the same bytes, resend when the receipt is overdue, give up
// visibly (dead) past the limit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { declareInbox } from '../../src/exchange/amqp.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, B, eventually, exampleAgreements, exampleCertificate, freshPlace, inject, peekQueue, registerAgreements, services, startTestGateway } from '../support/gateways.ts';

describe('relay', () => {
  let a: Gateway;
  let peerPlace: { amqpUrl: string };

  before(async () => {
    a = await startTestGateway(A, await freshPlace('ra'), {
      RELAY_BACKOFF_BASE_MS: '50',
      RELAY_BACKOFF_MAX_MS: '100',
      RELAY_MAX_ATTEMPTS: '3',
      RECEIPT_TIMEOUT_SECONDS: '1',
      RELAY_POLL_MS: '50',
    });
    peerPlace = await freshPlace('rb');
    await registerAgreements(a);
  });
  after(async () => {
    await a.stop();
  });

  async function registerB(amqpUrl: string): Promise<void> {
    const jwks = { keys: [{ kty: 'EC', kid: 'peer-key', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
    const response = await inject(a, 'PUT', `/admin/peers/${B}`, { name: 'B', amqpUrl, jwks, agreements: Object.keys(exampleAgreements) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  }

  it("retries a message the peer's broker cannot take and marks it dead after the attempt limit, visible to operators", async () => {
    await registerB(peerPlace.amqpUrl); // a vhost where B's inbox exchange does not exist
    const issued = await inject(a, 'POST', '/certificates', exampleCertificate());
    const dead = await eventually(async () => {
      const r = await inject(a, 'GET', `/messages/${issued.body.messageId}`);
      return r.body.status === 'dead' ? r.body : undefined;
    }, 'the message to be given up');
    assert.equal(dead.attempts, 4, 'three attempts, then the claim that gives up');
    assert.match(dead.lastError, /given up after 3 attempts: channel closed before confirm: .*NOT_FOUND - no exchange 'eco.inbound'/);
    const listing = await inject(a, 'GET', '/admin/messages?status=dead');
    assert.equal(listing.status, 200);
    assert.ok(listing.body.counts.dead >= 1);
    assert.ok(listing.body.messages.some((m: { messageId: string }) => m.messageId === issued.body.messageId));
    // The console's overview gives the peer's latest error and when it happened.
    const failing = (await inject(a, 'GET', '/admin/overview')).body.peers.find((p: { partyId: string }) => p.partyId === B);
    assert.equal(failing.health, 'failing');
    assert.deepEqual({ ...failing.lastError, at: undefined }, { message: dead.lastError, messageId: issued.body.messageId, status: 'dead', attempts: 4, at: undefined });
    const { rows } = await a.db.query<{ at: Date }>('SELECT last_error_at AS at FROM outbox WHERE id = $1', [issued.body.messageId]);
    assert.equal(failing.lastError.at, rows[0]!.at.toISOString());
    assert.ok(Math.abs(Date.parse(failing.lastError.at) - Date.now()) < 60_000, failing.lastError.at);

    // Once the peer is reachable, an operator sends it again: same id, fresh attempts.
    const place = await freshPlace('rr');
    const connection = await amqp.connect(place.amqpUrl);
    await declareInbox(await connection.createConfirmChannel(), B);
    await connection.close();
    await registerB(place.amqpUrl);
    const resent = await inject(a, 'POST', `/admin/messages/${issued.body.messageId}/resend`);
    assert.equal(resent.status, 200);
    await eventually(
      async () => ((await peekQueue(place.amqpUrl, 'eco.inbound')).some((m) => m.properties.messageId === issued.body.messageId) ? true : undefined),
      "the resent message at B's broker",
    );
    const confirmed = await eventually(async () => {
      const peer = (await inject(a, 'GET', '/admin/overview')).body.peers.find((p: { partyId: string }) => p.partyId === B);
      return peer.lastError === null ? peer : undefined;
    }, "the peer's error cleared once its broker confirmed the message");
    assert.notEqual(confirmed.health, 'failing');
    assert.equal((await inject(a, 'POST', `/admin/messages/${issued.body.messageId}/resend`)).status, 409, 'only dead messages');
  });

  it('delivers as a peer broker user that may only write to eco.inbound, and that user can do nothing else', async () => {
    const place = await freshPlace('ru2');
    const setup = await amqp.connect(place.amqpUrl);
    await declareInbox(await setup.createConfirmChannel(), B);
    await setup.close();
    const vhost = decodeURIComponent(new URL(place.amqpUrl).pathname.slice(1));
    const peerUrl = await services.rabbit.addPeerUser(vhost, `kr-${vhost}`, 'secret');
    await registerB(peerUrl);
    const issued = await inject(a, 'POST', '/certificates', exampleCertificate());
    await eventually(async () => ((await peekQueue(place.amqpUrl, 'eco.inbound')).some((m) => m.properties.messageId === issued.body.messageId) ? true : undefined), "the message in B's inbox");

    const connection = await amqp.connect(peerUrl);
    connection.on('error', () => {});
    try {
      const reader = await connection.createChannel();
      reader.on('error', () => {});
      await assert.rejects(reader.get('eco.inbound'), /ACCESS_REFUSED/, 'may not read the inbox');
      const declarer = await connection.createChannel();
      declarer.on('error', () => {});
      await assert.rejects(declarer.assertQueue('mine'), /ACCESS_REFUSED/, 'may not declare');
    } finally {
      await connection.close().catch(() => {});
    }
  });

  it("retries a message returned as unroutable (exchange without B's queue)", async () => {
    const place = await freshPlace('ru');
    const connection = await amqp.connect(place.amqpUrl);
    await (await connection.createChannel()).assertExchange('eco.inbound', 'direct', { durable: true });
    await connection.close();
    await registerB(place.amqpUrl);
    const issued = await inject(a, 'POST', '/certificates', exampleCertificate());
    const dead = await eventually(async () => {
      const r = await inject(a, 'GET', `/messages/${issued.body.messageId}`);
      return r.body.status === 'dead' ? r.body : undefined;
    }, 'the message to be given up');
    assert.match(dead.lastError, /no queue bound for routing key VN-MOIT/);
  });

  it('sends the same bytes with the same id again when the receipt is overdue', async () => {
    // B's inbox exists but nobody answers: A's message is confirmed, then resent for lack of a receipt.
    const place = await freshPlace('rc');
    const connection = await amqp.connect(place.amqpUrl);
    await declareInbox(await connection.createConfirmChannel(), B);
    await connection.close();
    await registerB(place.amqpUrl);
    const issued = await inject(a, 'POST', '/certificates', exampleCertificate());
    await eventually(async () => ((await inject(a, 'GET', `/messages/${issued.body.messageId}`)).body.attempts >= 2 ? true : undefined), 'a resend');
    const copies = await eventually(async () => {
      const messages = (await peekQueue(place.amqpUrl, 'eco.inbound')).filter((m) => m.properties.messageId === issued.body.messageId);
      return messages.length >= 2 ? messages : undefined;
    }, "two copies in B's inbox");
    assert.ok(copies[0]!.content.equals(copies[1]!.content), 'byte for byte the same');
    const { rows } = await a.db.query<{ body: string }>('SELECT body FROM outbox WHERE id = $1', [issued.body.messageId]);
    assert.equal(copies[0]!.content.toString(), rows[0]!.body);
    assert.equal(copies[0]!.properties.appId, A);
    assert.equal(copies[0]!.properties.type, 'certificate.issued');
    assert.equal(copies[0]!.properties.contentType, 'application/jose');
    assert.equal(copies[0]!.properties.deliveryMode, 2, 'persistent');
    assert.ok(typeof copies[0]!.properties.timestamp === 'number');
  });
});
