// An independent peer, written from the exchange profile alone (docs/wire.md; the agreement text it restates) (e-CO Exchange Profile 1.0 and its 1.1
// additions) with other libraries than the gateway: `jose` (panva) for JWS/JWE/JWK and
// `rabbitmq-client` for AMQP. Nothing here is imported from src/: the gateway is started through
// the test helpers and reached only as a foreign gateway would, over its REST API, its JWKS and
// its broker. Where the gateway and PROFILE disagree, the assertion follows PROFILE. Where PROFILE
// cannot be met as written (an answer's missingHere names lines the answerer never saw), the test
// asserts our documented reading.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { type AsyncMessage, Connection, type Publisher } from 'rabbitmq-client';
import { api, deadLetterAt, eventually, exampleAgreements, freshPlace, registerAgreements, services, startTestGateway } from '../support/gateways.ts';

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;
type Json = Record<string, any>;

/** Our gateway, the one under test. */
const US = 'VN-MOIT';
const PROFILE = 'eco/1.0';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const today = () => new Date().toISOString().slice(0, 10);
const b64u = (bytes: Buffer | Uint8Array) => Buffer.from(bytes).toString('base64url');
/** PROFILE: digest = base64url SHA-256 of the AMQP body bytes. */
const digestOf = (bytes: Buffer | string) => b64u(createHash('sha256').update(bytes).digest());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const utf8 = (text: string) => new TextEncoder().encode(text);
const part = (text: string) => b64u(Buffer.from(text, 'utf8'));

/** A message as the peer's inbox got it: the AMQP properties, the bytes, and the JOSE layers opened. */
type Received = {
  raw: Buffer;
  exchange: string;
  routingKey: string;
  props: { contentType?: string; messageId?: string; type?: string; appId?: string; timestamp?: number; durable?: boolean };
  jwe?: { header: Json };
  jws: string;
  header: Json;
  envelope: Json;
};

type SigKey = { privateKey: jose.CryptoKey; jwk: jose.JWK; kid: string; alg: string };
type EncKey = { privateKey: jose.CryptoKey; jwk: jose.JWK; kid: string; alg: string };

async function signingKey(alg = 'ES256'): Promise<SigKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk);
  return { privateKey, kid, alg, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

async function encryptionKey(alg: 'ECDH-ES+A256KW' | 'RSA-OAEP-256'): Promise<EncKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, alg === 'ECDH-ES+A256KW' ? { crv: 'P-256', extractable: true } : { modulusLength: 2048, extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk);
  return { privateKey, kid, alg, jwk: { ...jwk, kid, alg, use: 'enc' } };
}

const decodeSegment = (segment: string): Json => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));

/** The certificate as PROFILE draws it, checked member by member (used on what our gateway sends). */
function assertCertificateShape(c: Json, type: 'certificate.issued' | 'certificate.replaced'): void {
  assert.match(c.number, /^[A-Za-z0-9/.-]{1,35}$/);
  assert.ok(Number.isInteger(c.version) && c.version >= 1, 'version: integer >= 1');
  assert.ok(['preferential', 'non-preferential', 'origin-declaration'].includes(c.kind), `kind ${c.kind}`);
  if (c.kind !== 'non-preferential') assert.equal(typeof c.agreement, 'string');
  assert.match(c.issuedAt, /^\d{4}-\d{2}-\d{2}$/);
  assert.match(c.issuer.partyId, /^[A-Z]{2}-[A-Z0-9]{2,16}$/);
  assert.equal(typeof c.issuer.name, 'string');
  assert.equal(typeof c.exporter.name, 'string');
  assert.match(c.exportCountry, /^[A-Z]{2}$/);
  assert.match(c.importCountry, /^[A-Z]{2}$/);
  assert.ok(Array.isArray(c.items) && c.items.length >= 1);
  const numbers = new Set<number>();
  for (const item of c.items) {
    assert.ok(Number.isInteger(item.itemNumber) && !numbers.has(item.itemNumber), 'itemNumber unique');
    numbers.add(item.itemNumber);
    assert.equal(typeof item.description, 'string');
    assert.match(item.hsCode, /^\d{6,10}$/);
    assert.match(item.originCountry, /^[A-Z]{2}$/);
    if (c.kind !== 'non-preferential') assert.equal(typeof item.originCriterion, 'string');
    assert.equal(typeof item.quantity.value, 'string', 'decimals are strings');
    assert.equal(typeof item.quantity.unit, 'string');
    if (item.grossWeight) assert.equal(typeof item.grossWeight.value, 'string');
    if (item.value) assert.equal(typeof item.value.amount, 'string');
  }
  if (c.kind === 'origin-declaration') assert.equal(typeof c.exporterAuthorization, 'string');
  else assert.equal(typeof c.certification, 'object');
  if (type === 'certificate.replaced') {
    assert.equal(typeof c.replaces?.number, 'string');
    assert.ok(Number.isInteger(c.replaces?.version) && c.replaces.version < c.version, 'replaces names a lower version');
  } else {
    assert.equal(c.version, 1, 'certificate.issued carries version 1');
    assert.equal(c.replaces, undefined, 'replaces only on certificate.replaced');
  }
}

/** One independent gateway: keys, an inbox on its own vhost, a user on our vhost, a JWKS. */
class Peer {
  readonly inbox: Received[] = [];
  readonly undecodable: AsyncMessage[] = [];
  readonly returned: unknown[] = [];
  sig!: SigKey;
  enc?: EncKey;
  ownUrl!: string;
  vhost!: string;
  /** Our gateway's write-only user at this peer's broker. */
  urlForUs!: string;
  private own!: Connection;
  private toUs!: Connection;
  private publisher!: Publisher;
  private consumer!: ReturnType<Connection['createConsumer']>;
  jwksServer?: Server;
  jwksUrl?: string;

  constructor(
    readonly partyId: string,
    readonly country: string,
    readonly options: { encAlg?: 'ECDH-ES+A256KW' | 'RSA-OAEP-256'; serveJwks?: boolean } = {},
  ) {}

  get jwks(): { keys: jose.JWK[] } {
    return { keys: [this.sig.jwk, ...(this.enc ? [this.enc.jwk] : [])] };
  }

  async start(usVhost: string): Promise<void> {
    this.sig = await signingKey();
    if (this.options.encAlg) this.enc = await encryptionKey(this.options.encAlg);
    const place = await freshPlace(this.partyId.toLowerCase().replace('-', '_'));
    this.vhost = place.vhost;
    this.ownUrl = place.amqpUrl;
    const suffix = randomBytes(4).toString('hex');
    // PROFILE: each peer gets its own broker user that may only write to eco.inbound.
    this.urlForUs = await services.rabbit.addPeerUser(this.vhost, `vn-moit-at-${suffix}`, randomBytes(12).toString('hex'));
    const ourInboxUrl = await services.rabbit.addPeerUser(usVhost, `${this.partyId.toLowerCase()}-${suffix}`, randomBytes(12).toString('hex'));

    this.own = new Connection({ url: this.ownUrl, retryLow: 100, retryHigh: 1000 });
    // The inbox PROFILE describes (Transport).
    await this.own.exchangeDeclare({ exchange: 'eco.dead', type: 'fanout', durable: true });
    await this.own.queueDeclare({ queue: 'eco.dead', durable: true });
    await this.own.queueBind({ queue: 'eco.dead', exchange: 'eco.dead', routingKey: '' });
    await this.own.exchangeDeclare({ exchange: 'eco.inbound', type: 'direct', durable: true });
    await this.own.queueDeclare({ queue: 'eco.inbound', durable: true, arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'eco.dead' } });
    await this.own.queueBind({ queue: 'eco.inbound', exchange: 'eco.inbound', routingKey: this.partyId });
    this.consumer = this.own.createConsumer({ queue: 'eco.inbound', queueOptions: { passive: true }, qos: { prefetchCount: 50 } }, async (message) => {
      await this.take(message);
    });

    this.toUs = new Connection({ url: ourInboxUrl, retryLow: 100, retryHigh: 1000 });
    this.publisher = this.toUs.createPublisher({ confirm: true, maxAttempts: 1 });
    this.publisher.on('basic.return', (returned) => this.returned.push(returned));

    if (this.options.serveJwks) {
      this.jwksServer = createServer((request, response) => {
        if (request.url === '/.well-known/jwks.json') {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(this.jwks));
        } else {
          response.writeHead(404);
          response.end();
        }
      });
      await new Promise<void>((resolve) => this.jwksServer!.listen(0, '127.0.0.1', resolve));
      this.jwksUrl = `http://127.0.0.1:${(this.jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    }
  }

  /** Takes the inbox binding away (or back): what our gateway publishes is then unroutable. */
  async bindInbox(bound: boolean): Promise<void> {
    const binding = { queue: 'eco.inbound', exchange: 'eco.inbound', routingKey: this.partyId };
    await (bound ? this.own.queueBind(binding) : this.own.queueUnbind(binding));
  }

  async stop(): Promise<void> {
    await this.consumer?.close();
    await this.publisher?.close();
    await this.toUs?.close();
    await this.own?.close();
    if (this.jwksServer) await new Promise<void>((resolve) => this.jwksServer!.close(() => resolve()));
  }

  private async take(message: AsyncMessage): Promise<void> {
    const raw = Buffer.isBuffer(message.body) ? message.body : Buffer.from(typeof message.body === 'string' ? message.body : JSON.stringify(message.body));
    const text = raw.toString('utf8');
    try {
      let jws = text;
      let jwe: Received['jwe'];
      if (text.split('.').length === 5) {
        assert.ok(this.enc, `${this.partyId} got a JWE but has no encryption key`);
        const opened = await jose.compactDecrypt(text, this.enc.privateKey);
        jwe = { header: opened.protectedHeader as Json };
        jws = new TextDecoder().decode(opened.plaintext);
      }
      const [h, p] = jws.split('.');
      this.inbox.push({
        raw,
        jwe,
        jws,
        exchange: message.exchange,
        routingKey: message.routingKey,
        props: { contentType: message.contentType, messageId: message.messageId, type: message.type, appId: message.appId, timestamp: message.timestamp, durable: message.durable },
        header: decodeSegment(h!),
        envelope: decodeSegment(p!),
      });
    } catch {
      this.undecodable.push(message);
    }
  }

  envelope(type: string, body: Json, extra: Json = {}): Json {
    return { profile: PROFILE, id: randomUUID(), type, from: this.partyId, to: US, sentAt: new Date().toISOString(), body, ...extra };
  }

  /** A compact JWS over the envelope's JSON (or over the given text), as PROFILE says: ES256, kid, typ eco+jws. */
  async sign(envelope: Json | string, header: Json = {}, key: SigKey = this.sig): Promise<string> {
    const payload = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
    return new jose.CompactSign(utf8(payload)).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'eco+jws', ...header }).sign(key.privateKey);
  }

  /** Publishes bytes into our gateway's inbox as PROFILE's Transport says. */
  async publish(body: string | Buffer, props: { messageId?: string; type?: string; appId?: string } = {}): Promise<void> {
    await this.publisher.send(
      {
        exchange: 'eco.inbound',
        routingKey: US,
        mandatory: true,
        durable: true,
        contentType: 'application/jose',
        appId: this.partyId,
        timestamp: Math.floor(Date.now() / 1000),
        ...props,
      },
      Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    );
  }

  /** Signs (and encrypts, when `encryptTo`) an envelope, publishes it and returns the bytes sent. */
  async send(envelope: Json, options: { header?: Json; key?: SigKey; appId?: string; encryptTo?: jose.JWK & { kid?: string } } = {}): Promise<string> {
    let bytes = await this.sign(envelope, options.header, options.key);
    if (options.encryptTo) bytes = await encrypt(bytes, options.encryptTo);
    await this.publish(bytes, { messageId: envelope.id, type: envelope.type, appId: options.appId ?? this.partyId });
    return bytes;
  }

  async next(predicate: (r: Received) => boolean, what: string, timeoutMs = 20_000): Promise<Received> {
    return eventually(async () => this.inbox.find(predicate), `${what} at ${this.partyId}`, timeoutMs);
  }

  receiptsFor(id: string): Received[] {
    return this.inbox.filter((r) => r.envelope.type === 'receipt' && r.envelope.inReplyTo === id);
  }

  async receiptFor(id: string, timeoutMs = 20_000): Promise<Received> {
    return this.next((r) => r.envelope.type === 'receipt' && r.envelope.inReplyTo === id, `the receipt for ${id}`, timeoutMs);
  }

  /** Builds, signs and publishes a receipt for a message our gateway sent. */
  async answer(message: Received, body: Json, options: { encryptTo?: jose.JWK } = {}): Promise<{ envelope: Json; bytes: string }> {
    const envelope = { ...this.envelope('receipt', body), inReplyTo: message.envelope.id };
    const bytes = await this.send(envelope, { encryptTo: options.encryptTo });
    return { envelope, bytes };
  }
}

async function encrypt(jws: string, to: jose.JWK): Promise<string> {
  const alg = to.alg ?? (to.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW');
  const key = await jose.importJWK({ ...to, alg }, alg);
  return new jose.CompactEncrypt(utf8(jws)).setProtectedHeader({ alg, enc: 'A256GCM', kid: to.kid, cty: 'eco+jws' }).encrypt(key);
}

describe('an independent peer (docs/wire.md, jose + rabbitmq-client) against our gateway', () => {
  let gw: Gateway;
  let usPlace: { databaseUrl: string; amqpUrl: string; vhost: string };
  let ourJwks: { keys: jose.JWK[] };
  let verifyKeys: ReturnType<typeof jose.createLocalJWKSet>;
  const kr = new Peer('KR-KCS', 'KR', { serveJwks: true });
  const th = new Peer('TH-DFT', 'TH', { encAlg: 'ECDH-ES+A256KW' });
  const my = new Peer('MY-MITI', 'MY', { encAlg: 'RSA-OAEP-256' });
  const peers = [kr, th, my];

  before(async () => {
    usPlace = await freshPlace('us');
    // A short receipt timeout, to see PROFILE 1.1's resend of a message that got no receipt.
    gw = await startTestGateway(US, usPlace, { RECEIPT_TIMEOUT_SECONDS: '6', RELAY_BACKOFF_BASE_MS: '200', RELAY_BACKOFF_MAX_MS: '2000' });
    await registerAgreements(gw);
    const krJp = { name: 'Korea-Japan test agreement', parties: ['KR', 'JP'], kinds: ['preferential'], originCriteria: ['WO', 'PSR'], validityDays: 365, retroactiveDays: 365 };
    assert.equal((await api(gw, 'PUT', '/admin/agreements/KR-JP-EPA', krJp)).status, 200);
    for (const peer of peers) await peer.start(usPlace.vhost);
    const register = async (peer: Peer, body: Json) => {
      const r = await api(gw, 'PUT', `/admin/peers/${peer.partyId}`, { name: `independent ${peer.partyId}`, amqpUrl: peer.urlForUs, ...body });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };
    await register(kr, { jwksUrl: kr.jwksUrl, agreements: ['KR-VN-FTA', 'RCEP'], encrypt: false });
    await register(th, { jwks: th.jwks, agreements: ['RCEP'], encrypt: true });
    await register(my, { jwks: my.jwks, agreements: ['RCEP'], encrypt: true });
    const published = await fetch(`${gw.url}/.well-known/jwks.json`);
    assert.equal(published.status, 200);
    ourJwks = (await published.json()) as { keys: jose.JWK[] };
    verifyKeys = jose.createLocalJWKSet(ourJwks as jose.JSONWebKeySet);
  });

  after(async () => {
    for (const peer of peers) await peer.stop().catch(() => {});
    await gw?.stop();
  });

  // ------------------------------------------------------------------ helpers over our gateway

  const ourSigKeys = () => ourJwks.keys.filter((k) => k.use !== 'enc');
  const ourEncKey = () => {
    const key = ourJwks.keys.find((k) => k.use === 'enc');
    assert.ok(key, 'our JWKS publishes an encryption key');
    return key;
  };

  /** Checks everything PROFILE says of a message our gateway sent, verifies its signature, and returns its envelope. */
  async function assertFromUs(message: Received, to: Peer, type: string): Promise<Json> {
    assert.equal(message.exchange, 'eco.inbound');
    assert.equal(message.routingKey, to.partyId, 'routing key = recipient party id');
    assert.equal(message.props.contentType, 'application/jose');
    assert.equal(message.props.type, type);
    assert.equal(message.props.appId, US);
    assert.equal(message.props.durable, true, 'persistent');
    assert.equal(typeof message.props.timestamp, 'number', 'timestamp property');
    // AMQP 0-9-1: a POSIX time_t, in seconds (PROFILE: the standard behaviour where it is silent).
    assert.ok(Math.abs(message.props.timestamp! - Date.now() / 1000) < 600, `timestamp ${message.props.timestamp} is now, in seconds`);
    if (to.enc) {
      assert.ok(message.jwe, 'the peer requires encryption: a JWE on the wire');
      assert.equal(message.raw.toString().split('.').length, 5);
      assert.equal(message.jwe.header.alg, to.enc.alg);
      assert.equal(message.jwe.header.enc, 'A256GCM');
      assert.equal(message.jwe.header.kid, to.enc.kid, "kid of the recipient's encryption key");
      assert.equal(message.jwe.header.cty, 'eco+jws');
    } else {
      assert.equal(message.raw.toString().split('.').length, 3, 'a compact JWS on the wire');
    }
    assert.equal(message.header.typ, 'eco+jws');
    assert.ok(['ES256', 'PS256', 'EdDSA'].includes(message.header.alg), `alg ${message.header.alg}`);
    assert.ok(
      ourSigKeys().some((k) => k.kid === message.header.kid),
      'kid is a key of our JWKS',
    );
    const verified = await jose.compactVerify(message.jws, verifyKeys);
    const envelope = JSON.parse(new TextDecoder().decode(verified.payload));
    assert.equal(envelope.profile, PROFILE);
    assert.match(envelope.id, UUID);
    assert.equal(message.props.messageId, envelope.id, 'messageId = envelope id');
    assert.equal(envelope.type, type);
    assert.equal(envelope.from, US);
    assert.equal(envelope.to, to.partyId);
    assert.match(envelope.sentAt, RFC3339_UTC);
    assert.ok(Math.abs(Date.parse(envelope.sentAt) - Date.now()) < 600_000);
    assert.equal(typeof envelope.body, 'object');
    return envelope;
  }

  /** Our receipt for message `id` that the peer sent as `bytes`: every field PROFILE names. */
  async function receiptBody(peer: Peer, id: string, bytes: string | Buffer): Promise<{ status: string; digest: string; errors: { code: string; path?: string; message: string }[] }> {
    const receipt = await peer.receiptFor(id);
    const envelope = await assertFromUs(receipt, peer, 'receipt');
    assert.equal(envelope.inReplyTo, id);
    const body = envelope.body;
    assert.ok(['accepted', 'rejected'].includes(body.status));
    assert.equal(body.digest, digestOf(bytes), 'digest = base64url SHA-256 of the AMQP body bytes received');
    const errors = body.errors ?? [];
    assert.ok(Array.isArray(errors));
    for (const e of errors) {
      assert.equal(typeof e.code, 'string');
      assert.equal(typeof e.message, 'string');
      if (e.path !== undefined) assert.ok(e.path === '' || e.path.startsWith('/'), `path ${e.path} is a JSON Pointer`);
    }
    return { ...body, errors };
  }

  const codes = (body: { errors: { code: string }[] }) => body.errors.map((e) => e.code);

  /** A certificate the KR peer issues for VN, as PROFILE draws it. */
  function krCertificate(overrides: Json = {}): Json {
    return {
      number: `KR-P-${randomBytes(5).toString('hex').toUpperCase()}`,
      version: 1,
      kind: 'preferential',
      agreement: 'KR-VN-FTA',
      issuedAt: today(),
      issuer: { partyId: 'KR-KCS', name: 'Korea Customs Service' },
      exporter: { name: 'Hanbit Power Electronics Co., Ltd.', id: 'KR1234567890', address: { line: '77 Haeundae-ro', city: 'Busan', postcode: '48058', country: 'KR' } },
      importer: { name: 'Saigon Industrial Supply JSC', id: 'VN0312345678', address: { city: 'Ho Chi Minh City', country: 'VN' } },
      exportCountry: 'KR',
      importCountry: 'VN',
      transport: { mode: '1', means: 'HMM ALGECIRAS 0021W', loadingPort: 'KRPUS', dischargePort: 'VNSGN', departureDate: today() },
      invoice: { number: 'INV-88', date: today() },
      items: [
        {
          itemNumber: 1,
          description: 'Static converters',
          hsCode: '850440',
          originCountry: 'KR',
          originCriterion: 'PSR',
          quantity: { value: '1200', unit: 'NAR' },
          grossWeight: { value: '5300.5', unit: 'KGM' },
          packages: { count: 40, kind: 'CT', marks: 'KR/VN 1-40' },
          value: { amount: '125000.00', currency: 'USD' },
        },
      ],
      flags: { issuedRetroactively: false, backToBack: false, thirdPartyInvoicing: false, exhibition: false, cumulation: false },
      certification: { place: 'Seoul', date: today(), signatory: { name: 'Lee Seo-yeon', title: 'Officer' } },
      ...overrides,
    };
  }

  /** A certificate our gateway issues (VN exporting) to `importCountry`. */
  function vnCertificate(importCountry = 'KR', agreement = 'KR-VN-FTA', overrides: Json = {}): Json {
    return {
      number: `VN-T-${randomBytes(5).toString('hex').toUpperCase()}`,
      version: 1,
      kind: 'preferential',
      agreement,
      issuedAt: today(),
      issuer: { partyId: US, name: 'Viet Nam Ministry of Industry and Trade' },
      exporter: { name: 'Saigon Textiles JSC', address: { city: 'Ho Chi Minh City', country: 'VN' } },
      importer: { name: 'Importer Co.', id: `${importCountry}00112233`, address: { city: 'Somewhere', country: importCountry } },
      exportCountry: 'VN',
      importCountry,
      items: [
        {
          itemNumber: 1,
          description: 'Cotton shirts',
          hsCode: '620520',
          originCountry: 'VN',
          originCriterion: 'PSR',
          quantity: { value: '500', unit: 'NAR' },
          value: { amount: '2500.50', currency: 'USD' },
        },
      ],
      certification: { place: 'Hanoi', date: today(), signatory: { name: 'Nguyen Van A', title: 'Officer' } },
      ...overrides,
    };
  }

  async function issueAtUs(co: Json): Promise<{ messageId: string; number: string }> {
    const r = await api(gw, 'POST', '/certificates', co, { 'idempotency-key': `${co.number}-${randomUUID()}` });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.messageId, UUID);
    return r.body;
  }

  /** Sends a certificate.issued from KR and returns our receipt's body. */
  async function krSends(type: string, body: Json, extra: Json = {}, options: Parameters<Peer['send']>[1] = {}) {
    const envelope = kr.envelope(type, body, extra);
    const bytes = await kr.send(envelope, options);
    return { envelope, bytes, receipt: await receiptBody(kr, envelope.id, bytes) };
  }

  async function lookup(number: string, issuer?: string) {
    return api(gw, 'GET', `/certificates/${encodeURIComponent(number)}${issuer ? `?issuer=${issuer}` : ''}`);
  }

  async function assertNoReceipt(peer: Peer, id: string, waitMs = 2500): Promise<void> {
    await sleep(waitMs);
    assert.deepEqual(peer.receiptsFor(id), [], `no receipt for ${id}`);
  }

  // ------------------------------------------------------------------ our published surface

  describe('what a peer sees of our gateway before any message', () => {
    it('publishes a JWKS of public keys: a signing key and an encryption key', () => {
      assert.ok(ourSigKeys().length >= 1);
      for (const key of ourJwks.keys) {
        assert.equal(typeof key.kid, 'string');
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal((key as Json)[secret], undefined, `no private member ${secret}`);
      }
      const enc = ourEncKey();
      assert.ok(enc.kty === 'EC' || enc.kty === 'RSA');
    });

    it('holds its inbox as PROFILE Transport says (exchange, quorum queue, binding, dead-letter exchange and queue)', async () => {
      const queues = JSON.parse(await services.rabbit.ctl('list_queues', '-p', usPlace.vhost, 'name', 'durable', 'arguments', '--formatter', 'json')) as Json[];
      const inbox = queues.find((q) => q.name === 'eco.inbound');
      assert.ok(inbox, 'queue eco.inbound');
      assert.equal(inbox.durable, true);
      const args = Object.fromEntries((Array.isArray(inbox.arguments) ? inbox.arguments : Object.entries(inbox.arguments)).map((a: any) => (Array.isArray(a) ? [a[0], a.at(-1)] : [a.key, a.value])));
      assert.equal(args['x-queue-type'], 'quorum');
      assert.equal(args['x-dead-letter-exchange'], 'eco.dead');
      assert.ok(
        queues.find((q) => q.name === 'eco.dead' && q.durable === true),
        'durable queue eco.dead',
      );
      const exchanges = JSON.parse(await services.rabbit.ctl('list_exchanges', '-p', usPlace.vhost, 'name', 'type', 'durable', '--formatter', 'json')) as Json[];
      assert.ok(exchanges.find((e) => e.name === 'eco.inbound' && e.type === 'direct' && e.durable === true));
      assert.ok(exchanges.find((e) => e.name === 'eco.dead' && e.type === 'fanout' && e.durable === true));
      const bindings = JSON.parse(await services.rabbit.ctl('list_bindings', '-p', usPlace.vhost, 'source_name', 'destination_name', 'routing_key', '--formatter', 'json')) as Json[];
      assert.ok(bindings.find((b) => b.source_name === 'eco.inbound' && b.destination_name === 'eco.inbound' && b.routing_key === US));
      assert.ok(bindings.find((b) => b.source_name === 'eco.dead' && b.destination_name === 'eco.dead'));
    });
  });

  // ------------------------------------------------------------------ peer -> us

  describe('peer -> us: the exporting side messages', () => {
    it('certificate.issued: accepted, stored byte for byte, answered by a signed receipt with the right digest', async () => {
      const co = krCertificate();
      const { bytes, receipt } = await krSends('certificate.issued', co);
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      assert.deepEqual(receipt.errors, []);
      const found = await lookup(co.number);
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.equal(found.body.direction, 'received');
      assert.equal(found.body.issuer, 'KR-KCS');
      assert.equal(found.body.version, 1);
      assert.equal(found.body.status, 'valid');
      assert.equal(found.body.signatureVerified, true);
      assert.deepEqual(found.body.certificate, co);
      const original = await api(gw, 'GET', `/certificates/${co.number}`, undefined, { accept: 'application/jose' });
      assert.equal(original.status, 200);
      assert.equal(original.body, bytes, 'the original JWS, byte for byte');
    });

    it('a certificate with members PROFILE does not know is accepted and kept as signed', async () => {
      const co = krCertificate({ nationalExtension: { customsOffice: 'KRPUS01', notes: ['a', 'b'] } });
      co.items[0].tariffRateQuota = 'TRQ-7';
      co.issuer.email = 'origin@customs.go.kr';
      const { bytes, receipt } = await krSends('certificate.issued', co);
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      const original = await api(gw, 'GET', `/certificates/${co.number}`, undefined, { accept: 'application/jose' });
      assert.equal(original.body, bytes);
    });

    it('non-preferential without agreement/originCriterion and an origin declaration without certification are accepted', async () => {
      const nonPref = krCertificate({ kind: 'non-preferential' });
      delete nonPref.agreement;
      delete nonPref.items[0].originCriterion;
      const r1 = await krSends('certificate.issued', nonPref);
      assert.equal(r1.receipt.status, 'accepted', JSON.stringify(r1.receipt.errors));
      const declaration = krCertificate({
        kind: 'origin-declaration',
        agreement: 'RCEP',
        exporterAuthorization: 'KR-AE-2291',
        exporterDeclaration: { place: 'Busan', date: today(), signatory: { name: 'Kim', title: 'Manager' } },
      });
      delete declaration.certification;
      const r2 = await krSends('certificate.issued', declaration);
      assert.equal(r2.receipt.status, 'accepted', JSON.stringify(r2.receipt.errors));
      assert.equal((await lookup(declaration.number)).body.kind, 'origin-declaration');
    });

    it('a certificate with only the members PROFILE requires is accepted', async () => {
      const co = {
        number: `KR.P/${randomBytes(4).toString('hex')}`,
        version: 1,
        kind: 'preferential',
        agreement: 'KR-VN-FTA',
        issuedAt: today(),
        issuer: { partyId: 'KR-KCS', name: 'Korea Customs Service' },
        exporter: { name: 'Hanbit Power Electronics Co., Ltd.' },
        exportCountry: 'KR',
        importCountry: 'VN',
        items: [{ itemNumber: 1, description: 'Static converters', hsCode: '8504401000', originCountry: 'KR', originCriterion: 'PSR', quantity: { value: '1200.5', unit: 'KGM' } }],
        certification: { place: 'Seoul', date: today(), signatory: { name: 'Lee Seo-yeon', title: 'Officer' } },
      };
      const { receipt } = await krSends('certificate.issued', co);
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      assert.deepEqual((await lookup(co.number)).body.certificate, co);
    });

    it('certificate.replaced then certificate.cancelled: version 2 current, then cancelled', async () => {
      const v1 = krCertificate();
      assert.equal((await krSends('certificate.issued', v1)).receipt.status, 'accepted');
      const v2 = { ...v1, version: 2, items: [{ ...v1.items[0], quantity: { value: '1100', unit: 'NAR' } }], replaces: { number: v1.number, version: 1 } };
      const replaced = await krSends('certificate.replaced', v2);
      assert.equal(replaced.receipt.status, 'accepted', JSON.stringify(replaced.receipt.errors));
      let found = await lookup(v1.number);
      assert.equal(found.body.version, 2);
      assert.equal(found.body.status, 'valid');
      assert.deepEqual(found.body.certificate, v2);
      assert.deepEqual(found.body.history.map((h: Json) => [h.version, h.status]).sort(), [
        [1, 'replaced'],
        [2, 'valid'],
      ]);
      const cancelledAt = new Date().toISOString();
      const cancelled = await krSends('certificate.cancelled', { certificateNumber: v1.number, reason: 'Issued in error', cancelledAt });
      assert.equal(cancelled.receipt.status, 'accepted', JSON.stringify(cancelled.receipt.errors));
      found = await lookup(v1.number);
      assert.equal(found.body.status, 'cancelled');
      assert.equal(found.body.cancellation.reason, 'Issued in error');
    });

    it('a duplicate (same id, same bytes) is not stored again and gets the byte-identical receipt', async () => {
      const co = krCertificate();
      const envelope = kr.envelope('certificate.issued', co);
      const bytes = await kr.send(envelope);
      const first = await kr.receiptFor(envelope.id);
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
      await eventually(async () => (kr.receiptsFor(envelope.id).length >= 2 ? true : undefined), 'the second receipt');
      const [a, b] = kr.receiptsFor(envelope.id);
      assert.equal(b!.raw.toString(), a!.raw.toString(), 'byte-identical receipt');
      assert.equal(first.envelope.body.status, 'accepted');
      assert.equal((await lookup(co.number)).body.history.length, 1);
    });

    it('a duplicate of a rejected (authenticated) message gets the byte-identical rejection again', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate({ version: 0 }));
      const bytes = await kr.send(envelope);
      await kr.receiptFor(envelope.id);
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
      await eventually(async () => (kr.receiptsFor(envelope.id).length >= 2 ? true : undefined), 'the second receipt');
      const [a, b] = kr.receiptsFor(envelope.id);
      assert.equal(a!.envelope.body.status, 'rejected');
      assert.equal(b!.raw.toString(), a!.raw.toString());
    });

    it('a message reusing an earlier id with other bytes is a duplicate: the first receipt again, nothing stored', async () => {
      const first = kr.envelope('certificate.issued', krCertificate());
      await kr.send(first);
      const original = await kr.receiptFor(first.id);
      const other: Json = { ...kr.envelope('certificate.issued', krCertificate()), id: first.id };
      await kr.send(other);
      await eventually(async () => (kr.receiptsFor(first.id).length >= 2 ? true : undefined), 'the second receipt');
      assert.equal(kr.receiptsFor(first.id)[1]!.raw.toString(), original.raw.toString(), 'the same receipt again');
      assert.equal((await lookup(other.body.number)).status, 404, 'not stored');
    });

    it('the same certificate content under a new message id is a duplicate, accepted', async () => {
      const co = krCertificate();
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      const again = await krSends('certificate.issued', co);
      assert.equal(again.receipt.status, 'accepted', JSON.stringify(again.receipt.errors));
      assert.equal((await lookup(co.number)).body.history.length, 1);
    });
  });

  // ------------------------------------------------------------------ receiver checks

  describe('receiver checks, in PROFILE order, each with its code', () => {
    it('1. a body that is neither a compact JWS nor a JWE: dead-lettered with x-eco-error, no receipt', async () => {
      const id = randomUUID();
      await kr.publish('this is not JOSE at all', { messageId: id, type: 'certificate.issued' });
      const dead = await deadLetterAt(gw, id);
      assert.equal(dead.code, 'SIGNATURE_INVALID', 'check 1 names SIGNATURE_INVALID for what is not a JWS');
      assert.equal((dead.properties.headers as Json | undefined)?.['x-eco-error'], 'SIGNATURE_INVALID', 'the code in an x-eco-error header');
      await assertNoReceipt(kr, id, 500);
    });

    it('1. an unsecured JWS (alg none) from a known sender gets a signed receipt SIGNATURE_INVALID (1.1)', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = `${part(JSON.stringify({ alg: 'none', kid: kr.sig.kid, typ: 'eco+jws' }))}.${part(JSON.stringify(envelope))}.`;
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.equal(receipt.status, 'rejected');
      assert.deepEqual(codes(receipt), ['SIGNATURE_INVALID']);
      assert.equal((await lookup(envelope.body.number)).status, 404);
    });

    it('1. a MAC (HS256) from a known sender: SIGNATURE_INVALID', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = await new jose.CompactSign(utf8(JSON.stringify(envelope))).setProtectedHeader({ alg: 'HS256', kid: kr.sig.kid, typ: 'eco+jws' }).sign(randomBytes(32));
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.deepEqual(codes(receipt), ['SIGNATURE_INVALID']);
    });

    it('1. a JWE we cannot decrypt: DECRYPTION_FAILED, receipt to the peer named by appId', async () => {
      const stranger = await encryptionKey('ECDH-ES+A256KW');
      const envelope = th.envelope('certificate.issued', krCertificate());
      const bytes = await encrypt(await th.sign(envelope), stranger.jwk);
      await th.publish(bytes, { messageId: envelope.id, type: envelope.type });
      const receipt = await receiptBody(th, envelope.id, bytes);
      assert.deepEqual(codes(receipt), ['DECRYPTION_FAILED']);
    });

    it('2. from/appId naming no registered peer: dead-lettered UNKNOWN_SENDER, no receipt', async () => {
      const stranger = await signingKey();
      const envelope: Json = { ...kr.envelope('certificate.issued', krCertificate()), from: 'JP-METI' };
      const bytes = await kr.sign(envelope, {}, stranger);
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type, appId: 'JP-METI' });
      const dead = await deadLetterAt(gw, envelope.id);
      assert.equal(dead.code, 'UNKNOWN_SENDER');
      assert.equal((dead.properties.headers as Json | undefined)?.['x-eco-error'], 'UNKNOWN_SENDER', 'the code in an x-eco-error header');
      await assertNoReceipt(kr, envelope.id, 500);
    });

    it('2. a registered but suspended peer is not an active peer: dead-lettered UNKNOWN_SENDER, no receipt', async () => {
      assert.equal((await api(gw, 'POST', `/admin/peers/${my.partyId}/suspend`)).status, 200);
      try {
        const envelope = my.envelope('certificate.issued', krCertificate());
        const bytes = await encrypt(await my.sign(envelope), ourEncKey());
        await my.publish(bytes, { messageId: envelope.id, type: envelope.type });
        const dead = await deadLetterAt(gw, envelope.id);
        assert.equal(dead.code, 'UNKNOWN_SENDER');
        await assertNoReceipt(my, envelope.id, 500);
      } finally {
        assert.equal((await api(gw, 'POST', `/admin/peers/${my.partyId}/resume`)).status, 200);
      }
    });

    it('2. appId (another registered peer) differs from from: SENDER_MISMATCH, receipt to the peer named in from', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = await kr.send(envelope, { appId: th.partyId });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.equal(receipt.status, 'rejected');
      assert.deepEqual(codes(receipt), ['SENDER_MISMATCH']);
    });

    it('2. a kid that is not one of the sender keys: UNKNOWN_KEY', async () => {
      const other = await signingKey();
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = await kr.send(envelope, { key: other });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.deepEqual(codes(receipt), ['UNKNOWN_KEY']);
    });

    it('2 before 4: an unknown kid on a message with a wrong profile is UNKNOWN_KEY', async () => {
      const other = await signingKey();
      const envelope = kr.envelope('certificate.issued', krCertificate(), { profile: 'eco/9.9' });
      const bytes = await kr.send(envelope, { key: other });
      assert.equal(codes(await receiptBody(kr, envelope.id, bytes))[0], 'UNKNOWN_KEY');
    });

    it('3. a signature by another key under the sender kid: SIGNATURE_INVALID', async () => {
      const other = await signingKey();
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = await kr.send(envelope, { key: { ...other, kid: kr.sig.kid } });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.deepEqual(codes(receipt), ['SIGNATURE_INVALID']);
    });

    it('3 before 4: a bad signature on a misaddressed message is SIGNATURE_INVALID', async () => {
      const other = await signingKey();
      const envelope = kr.envelope('certificate.issued', krCertificate(), { to: 'TH-DFT' });
      const bytes = await kr.send(envelope, { key: { ...other, kid: kr.sig.kid } });
      assert.equal(codes(await receiptBody(kr, envelope.id, bytes))[0], 'SIGNATURE_INVALID');
    });

    it('a protected header with another typ is rejected (PROFILE requires typ eco+jws; it names no code)', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate());
      const bytes = await kr.send(envelope, { header: { typ: 'JWT' } });
      const receipt = await receiptBody(kr, envelope.id, bytes);
      assert.equal(receipt.status, 'rejected');
      assert.equal((await lookup(envelope.body.number)).status, 404);
    });

    it('a header without typ, or typ written as the full media type in another case, is read as eco+jws (RFC 7515)', async () => {
      for (const typ of [undefined, 'application/ECO+JWS']) {
        const envelope = kr.envelope('certificate.issued', krCertificate());
        const bytes = await kr.send(envelope, { header: { typ } });
        const receipt = await receiptBody(kr, envelope.id, bytes);
        assert.equal(receipt.status, 'accepted', `typ ${typ}: ${JSON.stringify(receipt.errors)}`);
        assert.equal((await lookup(envelope.body.number)).status, 200);
      }
    });

    it('4. profile other than eco/1.0: UNSUPPORTED_PROFILE (before the body schema)', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate({ version: 'one' }), { profile: 'eco/2.0' });
      const bytes = await kr.send(envelope);
      assert.deepEqual(codes(await receiptBody(kr, envelope.id, bytes)), ['UNSUPPORTED_PROFILE']);
    });

    it('4. to names another party: NOT_ADDRESSED_TO_RECEIVER', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate(), { to: 'VN-OTHER' });
      const bytes = await kr.send(envelope);
      assert.deepEqual(codes(await receiptBody(kr, envelope.id, bytes)), ['NOT_ADDRESSED_TO_RECEIVER']);
    });

    it('4. sentAt outside ±24 h: STALE_MESSAGE, past and future', async () => {
      for (const offset of [-25 * 3600_000, 25 * 3600_000]) {
        const envelope = kr.envelope('certificate.issued', krCertificate(), { sentAt: new Date(Date.now() + offset).toISOString() });
        const bytes = await kr.send(envelope);
        assert.deepEqual(codes(await receiptBody(kr, envelope.id, bytes)), ['STALE_MESSAGE']);
      }
    });

    it('4. sentAt within the window is accepted (a 23 h old message)', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate(), { sentAt: new Date(Date.now() - 23 * 3600_000).toISOString() });
      const bytes = await kr.send(envelope);
      assert.equal((await receiptBody(kr, envelope.id, bytes)).status, 'accepted');
    });

    it('5. a body invalid for its type: SCHEMA_INVALID with JSON Pointers from the envelope root', async () => {
      const co = krCertificate();
      co.items[0].hsCode = '85';
      delete co.exporter;
      const envelope = kr.envelope('certificate.issued', co);
      const receipt = await receiptBody(kr, envelope.id, await kr.send(envelope));
      assert.equal(receipt.status, 'rejected');
      assert.ok(
        receipt.errors.every((e) => e.code === 'SCHEMA_INVALID'),
        JSON.stringify(receipt.errors),
      );
      const paths = receipt.errors.map((e) => e.path);
      assert.ok(paths.includes('/body/items/0/hsCode'), JSON.stringify(paths));
      assert.ok(paths.includes('/body/exporter'), JSON.stringify(paths));
    });

    it('5. members against the shapes PROFILE gives: SCHEMA_INVALID at each path', async () => {
      const probes: [string, (co: Json) => void][] = [
        ['/body/number', (co) => (co.number = 'KR 2026 000123')],
        ['/body/version', (co) => (co.version = 0)],
        ['/body/kind', (co) => (co.kind = 'preferred')],
        ['/body/issuedAt', (co) => (co.issuedAt = '2026-02-30')],
        ['/body/items/0/quantity/value', (co) => (co.items[0].quantity.value = 1200)],
        ['/body/items/0/value/currency', (co) => (co.items[0].value.currency = 'ABC')],
        ['/body/exporter/address/country', (co) => (co.exporter.address.country = 'XX')],
        ['/body/exporter/address/country', (co) => delete co.exporter.address.country],
        ['/body/exporter/name', (co) => delete co.exporter.name],
        ['/body/items', (co) => (co.items = [])],
        ['/body/items/0/originCriterion', (co) => delete co.items[0].originCriterion],
        ['/body/certification', (co) => delete co.certification],
      ];
      for (const [path, spoil] of probes) {
        const co = krCertificate();
        spoil(co);
        const envelope = kr.envelope('certificate.issued', co);
        const receipt = await receiptBody(kr, envelope.id, await kr.send(envelope));
        assert.equal(receipt.status, 'rejected', path);
        assert.ok(
          receipt.errors.some((e) => e.code === 'SCHEMA_INVALID' && e.path === path),
          `${path}: ${JSON.stringify(receipt.errors)}`,
        );
      }
      const twice = krCertificate();
      twice.items.push({ ...twice.items[0] });
      const envelope = kr.envelope('certificate.issued', twice);
      const receipt = await receiptBody(kr, envelope.id, await kr.send(envelope));
      assert.deepEqual([...new Set(codes(receipt))], ['SCHEMA_INVALID'], 'itemNumber unique');
    });

    it('5. an origin declaration without exporterAuthorization, a replacement without replaces: SCHEMA_INVALID', async () => {
      const declaration = krCertificate({ kind: 'origin-declaration', agreement: 'RCEP' });
      delete declaration.certification;
      const e1 = kr.envelope('certificate.issued', declaration);
      const r1 = await receiptBody(kr, e1.id, await kr.send(e1));
      assert.deepEqual(
        r1.errors.map((e) => [e.code, e.path]),
        [['SCHEMA_INVALID', '/body/exporterAuthorization']],
      );
      const e2 = kr.envelope('certificate.replaced', krCertificate({ version: 2 }));
      const r2 = await receiptBody(kr, e2.id, await kr.send(e2));
      assert.deepEqual(
        r2.errors.map((e) => [e.code, e.path]),
        [['SCHEMA_INVALID', '/body/replaces']],
      );
    });

    it('5. U+0000 or a lone surrogate in a string: SCHEMA_INVALID with the path, with a receipt (1.1)', async () => {
      for (const [bad, path] of [
        ['remarks', '/body/remarks'],
        ['description', '/body/items/0/description'],
      ] as const) {
        for (const poison of ['\\u0000', '\\ud800']) {
          const co = krCertificate();
          const envelope = kr.envelope('certificate.issued', co);
          const marker = 'POISON-MARKER';
          if (bad === 'remarks') co.remarks = marker;
          else co.items[0].description = marker;
          // JSON text with an escape JSON.stringify would not write for a lone surrogate.
          const payload = JSON.stringify(envelope).replace(marker, `x${poison}y`);
          const bytes = await kr.sign(payload);
          await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
          const receipt = await receiptBody(kr, envelope.id, bytes);
          assert.deepEqual(
            receipt.errors.map((e) => [e.code, e.path]),
            [['SCHEMA_INVALID', path]],
            `${poison} in ${path}`,
          );
        }
      }
    });

    it('6. from differs from issuer.partyId: SENDER_MISMATCH', async () => {
      const co = krCertificate({ issuer: { partyId: 'KR-OTHER', name: 'Someone else' } });
      const { receipt } = await krSends('certificate.issued', co);
      assert.equal(receipt.status, 'rejected');
      assert.deepEqual(codes(receipt), ['SENDER_MISMATCH']);
    });

    it('6. same issuer, number and version with other content: CONFLICTING_CERTIFICATE; the first is kept', async () => {
      const co = krCertificate();
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      const altered = { ...co, items: [{ ...co.items[0], quantity: { value: '9999', unit: 'NAR' } }] };
      const { receipt } = await krSends('certificate.issued', altered);
      assert.deepEqual(codes(receipt), ['CONFLICTING_CERTIFICATE']);
      assert.deepEqual((await lookup(co.number)).body.certificate.items[0].quantity, { value: '1200', unit: 'NAR' });
    });

    it('6. an agreement that does not cover this pair: NOT_A_PARTY', async () => {
      const co = krCertificate({ agreement: 'KR-JP-EPA' });
      const { receipt } = await krSends('certificate.issued', co);
      assert.equal(receipt.status, 'rejected');
      assert.ok(codes(receipt).includes('NOT_A_PARTY'), JSON.stringify(receipt.errors));
    });

    it('6. exportCountry not the sender country, importCountry not ours: NOT_A_PARTY with the path (1.1)', async () => {
      const foreignExport = krCertificate({ exportCountry: 'JP' });
      const r1 = (await krSends('certificate.issued', foreignExport)).receipt;
      assert.ok(
        r1.errors.some((e) => e.code === 'NOT_A_PARTY' && e.path === '/body/exportCountry'),
        JSON.stringify(r1.errors),
      );
      const foreignImport = krCertificate({ importCountry: 'TH', agreement: 'RCEP' });
      const r2 = (await krSends('certificate.issued', foreignImport)).receipt;
      assert.ok(
        r2.errors.some((e) => e.code === 'NOT_A_PARTY' && e.path === '/body/importCountry'),
        JSON.stringify(r2.errors),
      );
    });

    it('6. a replacement that does not raise the version is rejected', async () => {
      const co = krCertificate();
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      const { receipt } = await krSends('certificate.replaced', { ...co, version: 1, remarks: 'again', replaces: { number: co.number, version: 1 } });
      assert.equal(receipt.status, 'rejected');
      assert.equal((await lookup(co.number)).body.version, 1);
    });

    it('a body over 4 MiB is dead-lettered MESSAGE_TOO_LARGE without a receipt (1.1)', async () => {
      const envelope = kr.envelope('certificate.issued', krCertificate({ remarks: 'x'.repeat(4 * 1024 * 1024) }));
      const bytes = await kr.sign(envelope);
      await kr.publish(bytes, { messageId: envelope.id, type: envelope.type });
      const dead = await deadLetterAt(gw, envelope.id);
      assert.equal(dead.code, 'MESSAGE_TOO_LARGE');
      await assertNoReceipt(kr, envelope.id, 500);
    });
  });

  // ------------------------------------------------------------------ us -> peer

  describe('us -> peer: what our gateway sends, and the receipts it takes', () => {
    it('certificate.issued: AMQP properties, JWS header, envelope and certificate per PROFILE; a receipt built per PROFILE makes it accepted', async () => {
      const co = vnCertificate();
      const issued = await issueAtUs(co);
      const message = await kr.next((r) => r.props.messageId === issued.messageId, 'our certificate.issued');
      const envelope = await assertFromUs(message, kr, 'certificate.issued');
      assert.equal(envelope.inReplyTo, undefined, 'inReplyTo only on receipts and answers');
      assertCertificateShape(envelope.body, 'certificate.issued');
      assert.deepEqual(envelope.body, co);
      assert.deepEqual(kr.returned, [], 'nothing returned as unroutable');

      const { bytes } = await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      const delivery = await eventually(async () => {
        const r = await api(gw, 'GET', `/messages/${issued.messageId}`);
        return r.body.status === 'accepted' ? r.body : undefined;
      }, 'our delivery accepted');
      assert.equal(delivery.peer, 'KR-KCS');
      const proof = await api(gw, 'GET', `/messages/${issued.messageId}/receipt`);
      assert.equal(proof.status, 200);
      assert.equal(proof.body, bytes, "the peer's receipt kept byte for byte as proof");
      const found = await lookup(co.number);
      assert.equal(found.body.deliveries.find((d: Json) => d.messageId === issued.messageId)?.status, 'accepted');
    });

    it('a rejected receipt marks the delivery rejected with its errors', async () => {
      const issued = await issueAtUs(vnCertificate());
      const message = await kr.next((r) => r.props.messageId === issued.messageId, 'our certificate.issued');
      await kr.answer(message, { status: 'rejected', digest: digestOf(message.raw), errors: [{ code: 'SCHEMA_INVALID', path: '/body/items/0/hsCode', message: 'not in our tariff' }] });
      const delivery = await eventually(async () => {
        const r = await api(gw, 'GET', `/messages/${issued.messageId}`);
        return r.body.status === 'rejected' ? r.body : undefined;
      }, 'our delivery rejected');
      assert.deepEqual(
        delivery.errors.map((e: Json) => [e.code, e.path]),
        [['SCHEMA_INVALID', '/body/items/0/hsCode']],
      );
    });

    it('an unroutable publish (mandatory) is not counted as sent; it arrives once the inbox is bound again', async () => {
      await kr.bindInbox(false);
      let issued: { messageId: string };
      try {
        issued = await issueAtUs(vnCertificate());
        await sleep(2500);
        const delivery = (await api(gw, 'GET', `/messages/${issued.messageId}`)).body;
        assert.notEqual(delivery.status, 'sent', JSON.stringify(delivery));
        assert.notEqual(delivery.status, 'accepted');
      } finally {
        await kr.bindInbox(true);
      }
      const message = await kr.next((r) => r.props.messageId === issued.messageId, 'the message once routable', 30_000);
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      await eventually(async () => ((await api(gw, 'GET', `/messages/${issued.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');
    });

    it('a message without a receipt is sent again, same bytes, same messageId (1.1)', async () => {
      const issued = await issueAtUs(vnCertificate());
      await eventually(async () => (kr.inbox.filter((r) => r.props.messageId === issued.messageId).length >= 2 ? true : undefined), 'a resend', 40_000);
      const [first, again] = kr.inbox.filter((r) => r.props.messageId === issued.messageId);
      assert.equal(again!.raw.toString(), first!.raw.toString(), 'same bytes');
      await kr.answer(first!, { status: 'accepted', digest: digestOf(first!.raw), errors: [] });
      await eventually(async () => ((await api(gw, 'GET', `/messages/${issued.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');
    });

    it('certificate.replaced and certificate.cancelled bodies per PROFILE', async () => {
      const co = vnCertificate();
      const issued = await issueAtUs(co);
      const first = await kr.next((r) => r.props.messageId === issued.messageId, 'issued');
      await kr.answer(first, { status: 'accepted', digest: digestOf(first.raw), errors: [] });
      await eventually(async () => ((await api(gw, 'GET', `/messages/${issued.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');

      const v2 = { ...co, version: 2, remarks: 'quantity corrected', items: [{ ...co.items[0], quantity: { value: '450', unit: 'NAR' } }] };
      const replaced = await api(gw, 'POST', `/certificates/${co.number}/replace`, v2);
      assert.ok([200, 201].includes(replaced.status), JSON.stringify(replaced.body));
      const rmsg = await kr.next((r) => r.props.messageId === replaced.body.messageId, 'replaced');
      const renv = await assertFromUs(rmsg, kr, 'certificate.replaced');
      assertCertificateShape(renv.body, 'certificate.replaced');
      assert.deepEqual(renv.body.replaces, { number: co.number, version: 1 });
      assert.equal(renv.body.version, 2);
      await kr.answer(rmsg, { status: 'accepted', digest: digestOf(rmsg.raw), errors: [] });

      const cancelled = await api(gw, 'POST', `/certificates/${co.number}/cancel`, { reason: 'Goods not shipped' });
      assert.ok([200, 201].includes(cancelled.status), JSON.stringify(cancelled.body));
      const cmsg = await kr.next((r) => r.props.messageId === cancelled.body.messageId, 'cancelled');
      const cenv = await assertFromUs(cmsg, kr, 'certificate.cancelled');
      assert.deepEqual(Object.keys(cenv.body).sort(), ['cancelledAt', 'certificateNumber', 'reason']);
      assert.equal(cenv.body.certificateNumber, co.number);
      assert.equal(cenv.body.reason, 'Goods not shipped');
      assert.ok(!Number.isNaN(Date.parse(cenv.body.cancelledAt)));
      await kr.answer(cmsg, { status: 'accepted', digest: digestOf(cmsg.raw), errors: [] });
      await eventually(async () => ((await api(gw, 'GET', `/messages/${cancelled.body.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');
    });
  });

  // ------------------------------------------------------------------ the other message types

  describe('utilization, verification and Pull, both ways', () => {
    /** A CO our gateway issued to KR and KR acknowledged. */
    async function deliveredToKr(): Promise<Json> {
      const co = vnCertificate();
      const issued = await issueAtUs(co);
      const message = await kr.next((r) => r.props.messageId === issued.messageId, 'issued');
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      return { co, message };
    }

    it('certificate.utilized from the peer is recorded at the issuer (us); an unknown number is UNKNOWN_CERTIFICATE', async () => {
      const { co } = await deliveredToKr();
      const clearedAt = new Date().toISOString();
      const { receipt } = await krSends('certificate.utilized', { certificateNumber: co.number, declarationRef: 'KR-DECL-77', items: [{ itemNumber: 1, quantity: '120' }], clearedAt });
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      const found = await lookup(co.number);
      assert.deepEqual(
        found.body.utilizations.map((u: Json) => [u.reportedBy, u.declarationRef]),
        [['KR-KCS', 'KR-DECL-77']],
      );
      const unknown = await krSends('certificate.utilized', { certificateNumber: 'VN-NEVER-1', declarationRef: 'KR-DECL-78', items: [{ itemNumber: 1, quantity: '1' }], clearedAt });
      assert.deepEqual(codes(unknown.receipt), ['UNKNOWN_CERTIFICATE']);
    });

    it('verification.requested from the peer reaches our verifier; our verification.answered carries the request', async () => {
      const { co } = await deliveredToKr();
      const requestId = randomUUID();
      const { envelope, receipt } = await krSends('verification.requested', {
        requestId,
        certificateNumber: co.number,
        reasons: ['origin criterion doubtful'],
        questions: 'Please send the cost statement.',
      });
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      const open = await eventually(async () => {
        const r = await api(gw, 'GET', '/verifications?role=verifier&status=open');
        return r.body.verifications.find((v: Json) => v.certificateNumber === co.number);
      }, 'the request at our verifier');
      assert.deepEqual(open.reasons, ['origin criterion doubtful']);
      assert.equal(open.questions, 'Please send the cost statement.');
      const answered = await api(gw, 'POST', `/verifications/${open.id}/answer`, { result: 'partially-confirmed', findings: 'Item 1 only' });
      assert.equal(answered.status, 200, JSON.stringify(answered.body));
      const message = await kr.next((r) => r.envelope.type === 'verification.answered' && r.envelope.body?.certificateNumber === co.number, 'our answer');
      const answer = await assertFromUs(message, kr, 'verification.answered');
      assert.equal(answer.body.requestId, requestId, 'the requestId the peer chose');
      assert.equal(answer.body.result, 'partially-confirmed');
      assert.ok('findings' in answer.body);
      const unknown = await krSends('verification.requested', { requestId: randomUUID(), certificateNumber: 'VN-NEVER-3', reasons: ['x'], questions: '' });
      assert.deepEqual(codes(unknown.receipt), ['UNKNOWN_CERTIFICATE'], 'a request about a number we never issued to this peer');
      assert.equal(answer.inReplyTo, envelope.id, 'PROFILE: inReplyTo on receipts and answers');
    });

    it('our verification.requested reaches the peer; its verification.answered is recorded', async () => {
      const co = krCertificate();
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      const asked = await api(gw, 'POST', '/verifications', { certificateNumber: co.number, issuer: 'KR-KCS', reasons: ['random check'], questions: 'Producer records?' });
      assert.equal(asked.status, 201, JSON.stringify(asked.body));
      const message = await kr.next((r) => r.envelope.type === 'verification.requested' && r.envelope.body?.certificateNumber === co.number, 'our request');
      const request = await assertFromUs(message, kr, 'verification.requested');
      assert.deepEqual(Object.keys(request.body).sort(), ['certificateNumber', 'questions', 'reasons', 'requestId']);
      assert.deepEqual(request.body.reasons, ['random check']);
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      const answer = kr.envelope(
        'verification.answered',
        { requestId: request.body.requestId, certificateNumber: co.number, result: 'not-confirmed', findings: 'No records' },
        { inReplyTo: request.id },
      );
      const bytes = await kr.send(answer);
      assert.equal((await receiptBody(kr, answer.id, bytes)).status, 'accepted');
      await eventually(async () => ((await api(gw, 'GET', `/verifications/${asked.body.id}`)).body.result === 'not-confirmed' ? true : undefined), 'the answer recorded');
    });

    it('our certificate.utilized after a confirmed declaration check has the body PROFILE names', async () => {
      const co = krCertificate();
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      const claim = {
        declarationRef: `DECL-${randomBytes(4).toString('hex')}`,
        certificateNumber: co.number,
        exportCountry: 'KR',
        importer: { id: 'VN0312345678' },
        items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '10', unit: 'NAR' } }],
        confirm: true,
      };
      const checked = await api(gw, 'POST', '/clearance/checks', claim);
      assert.equal(checked.status, 201, JSON.stringify(checked.body));
      const message = await kr.next((r) => r.envelope.type === 'certificate.utilized' && r.envelope.body?.certificateNumber === co.number, 'our utilization report');
      const report = await assertFromUs(message, kr, 'certificate.utilized');
      assert.deepEqual(Object.keys(report.body).sort(), ['certificateNumber', 'clearedAt', 'declarationRef', 'items']);
      assert.equal(report.body.declarationRef, claim.declarationRef);
      assert.deepEqual(
        report.body.items.map((i: Json) => [i.itemNumber, Number(i.quantity)]),
        [[1, 10]],
      );
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
    });

    it('our certificate.requested (Pull) has the body PROFILE names, and the certificate the peer sends in answer is taken', async () => {
      const pullable = { ...exampleAgreements['KR-VN-FTA'], pullAllowed: true };
      const put = await api(gw, 'PUT', '/admin/agreements/KR-VN-FTA', pullable);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const co = krCertificate();
      const claim = {
        declarationRef: `DECL-${randomBytes(4).toString('hex')}`,
        certificateNumber: co.number,
        issuer: 'KR-KCS',
        agreement: 'KR-VN-FTA',
        exportCountry: 'KR',
        importer: { id: 'VN0312345678' },
        items: [{ itemNumber: 1, hsCode: '850440', originCountry: 'KR', quantity: { value: '10', unit: 'NAR' } }],
      };
      const checked = await api(gw, 'POST', '/clearance/checks', claim);
      assert.equal(checked.status, 201, JSON.stringify(checked.body));
      const message = await kr.next((r) => r.envelope.type === 'certificate.requested' && r.envelope.body?.certificateNumber === co.number, 'our Pull request');
      const request = await assertFromUs(message, kr, 'certificate.requested');
      assert.deepEqual(request.body, { certificateNumber: co.number });
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      assert.equal((await krSends('certificate.issued', co)).receipt.status, 'accepted');
      assert.equal((await lookup(co.number)).body.version, 1);
    });

    it('certificate.requested (Pull): a number we sent is sent again (same id, same bytes); an unknown one is NOT_FOUND', async () => {
      const { co, message } = await deliveredToKr();
      const before = kr.inbox.filter((r) => r.props.messageId === message.props.messageId).length;
      const { receipt } = await krSends('certificate.requested', { certificateNumber: co.number });
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      await eventually(async () => (kr.inbox.filter((r) => r.props.messageId === message.props.messageId).length > before ? true : undefined), 'the certificate sent again');
      const again = kr.inbox.filter((r) => r.props.messageId === message.props.messageId).at(-1)!;
      assert.equal(again.raw.toString(), message.raw.toString(), 'same bytes');
      const unknown = await krSends('certificate.requested', { certificateNumber: 'VN-NEVER-2' });
      assert.equal(unknown.receipt.status, 'rejected');
      assert.deepEqual(codes(unknown.receipt), ['NOT_FOUND']);
      // A number we issued to another party is not this peer's to pull.
      const toThailand = await issueAtUs(vnCertificate('TH', 'RCEP'));
      await th.next((r) => r.props.messageId === toThailand.messageId, 'the CO at TH');
      const foreign = await krSends('certificate.requested', { certificateNumber: toThailand.number });
      assert.deepEqual(codes(foreign.receipt), ['NOT_FOUND']);
      assert.equal(kr.inbox.filter((r) => r.props.messageId === toThailand.messageId).length, 0, 'nothing of TH sent to KR');
    });
  });

  // ------------------------------------------------------------------ encryption

  describe('encryption (JWE: sign, then encrypt)', () => {
    for (const peer of [th, my]) {
      it(`${peer.partyId} requires encryption (${peer.options.encAlg}): both directions`, async () => {
        const co = vnCertificate(peer.country, 'RCEP');
        const issued = await issueAtUs(co);
        const message = await peer.next((r) => r.props.messageId === issued.messageId, 'our encrypted certificate.issued');
        const envelope = await assertFromUs(message, peer, 'certificate.issued');
        assert.deepEqual(envelope.body, co);
        // The receipt goes back encrypted to our encryption key; the digest is of the JWE bytes received.
        await peer.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] }, { encryptTo: ourEncKey() });
        await eventually(async () => ((await api(gw, 'GET', `/messages/${issued.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');

        const theirs = krCertificate({
          number: `${peer.country}-P-${randomBytes(4).toString('hex').toUpperCase()}`,
          agreement: 'RCEP',
          issuer: { partyId: peer.partyId, name: `${peer.country} authority` },
          exporter: { name: 'Exporter', address: { city: 'City', country: peer.country } },
          exportCountry: peer.country,
          items: [{ itemNumber: 1, description: 'Rubber gloves', hsCode: '401519', originCountry: peer.country, originCriterion: 'PSR', quantity: { value: '10000', unit: 'NAR' } }],
        });
        delete theirs.transport;
        const inbound = peer.envelope('certificate.issued', theirs);
        const bytes = await peer.send(inbound, { encryptTo: ourEncKey() });
        assert.equal(bytes.split('.').length, 5);
        const receipt = await receiptBody(peer, inbound.id, bytes);
        assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
        const found = await lookup(theirs.number, peer.partyId);
        assert.equal(found.status, 200);
        assert.deepEqual(found.body.certificate, theirs);
      });
    }

    it('a plain JWS from a peer registered with encrypt: true is still a JWS (PROFILE tells them apart by dots)', async () => {
      // PROFILE requires the body to be a JWE when the peer requires encryption, but names no code for
      // a plain JWS: nothing is asserted about it beyond a receipt being sent.
      const envelope = th.envelope('certificate.issued', krCertificate());
      const bytes = await th.send(envelope);
      await receiptBody(th, envelope.id, bytes);
    });
  });

  // ------------------------------------------------------------------ Profile 1.1: reconciliation

  describe('reconciliation (Profile 1.1)', () => {
    const emptyTally = { count: 0, buckets: {} };
    function tally(lines: { id: string; digest: string }[]) {
      const buckets: Record<string, { count: number; root: string }> = {};
      for (const digit of '0123456789abcdef') {
        const inBucket = lines.filter((l) => l.id[0]!.toLowerCase() === digit).sort((a, b) => (a.id < b.id ? -1 : 1));
        if (inBucket.length === 0) continue;
        buckets[digit] = { count: inBucket.length, root: digestOf(inBucket.map((l) => `${l.id} ${l.digest}\n`).join('')) };
      }
      return { count: lines.length, buckets };
    }

    async function statement(period: { start: Date; end: Date }, sent: ReturnType<typeof tally>, received: ReturnType<typeof tally>) {
      const statementId = randomUUID();
      const body = { statementId, periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(), sent, received };
      const { envelope, receipt } = await krSends('reconciliation.statement', body);
      assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
      const message = await kr.next((r) => r.envelope.type === 'reconciliation.answered' && r.envelope.body?.statementId === statementId, 'the reconciliation answer');
      const answer = await assertFromUs(message, kr, 'reconciliation.answered');
      assert.equal(answer.inReplyTo, envelope.id);
      await kr.answer(message, { status: 'accepted', digest: digestOf(message.raw), errors: [] });
      return answer.body;
    }

    it('a statement for a period without traffic is answered "match"', async () => {
      // Not yesterday: the freshness probes above sent messages dated 23 and 25 hours ago.
      const end = new Date(Date.parse(`${today()}T00:00:00Z`) - 5 * 24 * 3600_000);
      const start = new Date(end.getTime() - 24 * 3600_000);
      const answer = await statement({ start, end }, emptyTally, emptyTally);
      assert.equal(answer.result, 'match');
      assert.deepEqual([answer.missingHere, answer.missingThere, answer.digestMismatch], [[], [], []]);
    });

    it('lines the peer sent that we never received are missingHere; ours it never received are missingThere', async () => {
      const start = new Date();
      await sleep(5);
      const issued = await issueAtUs(vnCertificate());
      const ours = await kr.next((r) => r.props.messageId === issued.messageId, 'ours');
      await kr.answer(ours, { status: 'accepted', digest: digestOf(ours.raw), errors: [] });
      await eventually(async () => ((await api(gw, 'GET', `/messages/${issued.messageId}`)).body.status === 'accepted' ? true : undefined), 'accepted');
      const end = new Date(Date.now() + 1000);
      const lost = { id: randomUUID(), digest: digestOf('bytes that never arrived') };
      // The peer claims it sent `lost` and received nothing from us.
      const answer = await statement({ start, end }, tally([lost]), emptyTally);
      assert.equal(answer.result, 'mismatch');
      // A bucket's root cannot be turned back into the sender's lines: the answer can name only
      // its own lines in the buckets that differ (docs/wire.md, "Reconciliation").
      assert.deepEqual(answer.missingHere, []);
      assert.deepEqual(answer.missingThere, [{ id: issued.messageId, digest: digestOf(ours.raw) }]);
      assert.deepEqual(answer.digestMismatch, []);
    });
  });
});
