// What an operator running the gateway sees: request ids (honoured or made, echoed, logged, in
// problem bodies), one info line per business event, probes outside the rate limits, the client
// address behind a trusted proxy, and Prometheus default metrics under their standard names.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type Logger, pino } from 'pino';
import type { Gateway } from '../../src/gateway.ts';
import { A, api, eventually, exampleCertificate, freshPlace, inboxOfB, type Pair, startPair, startTestGateway } from '../support/gateways.ts';

type Line = Record<string, unknown> & { msg?: string; level: number };

/** A logger at info whose lines (parsed) land in `lines`. */
function capture(party: string): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { log: pino({ level: 'info', base: { party } }, stream), lines };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('observability', () => {
  let pair: Pair;
  const logA = capture('A');
  const logB = capture('B');

  before(async () => {
    pair = await startPair({}, { logs: { a: logA.log, b: logB.log } });
  });
  after(() => pair?.stop());

  describe('X-Request-Id', () => {
    it('honours a well-formed one: echoed, on every log line of the request, and in a problem body', async () => {
      const id = `trace-${randomUUID()}`;
      const response = await fetch(`${pair.a.url}/certificates/NOPE-1`, { headers: { 'x-request-id': id, authorization: 'Bearer eco_00000000_nope' } });
      assert.equal(response.headers.get('x-request-id'), id);
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { requestId: string }).requestId, id);
      const lines = logA.lines.filter((l) => l.reqId === id);
      const access = lines.filter((l) => l.msg === 'request');
      assert.equal(access.length, 1, 'one access line per request');
      assert.deepEqual({ method: access[0]!.method, url: access[0]!.url, statusCode: access[0]!.statusCode }, { method: 'GET', url: '/certificates/NOPE-1', statusCode: 401 });
      assert.equal(typeof access[0]!.ms, 'number');
    });

    it('makes a UUID when there is none, or the one sent is too long or unsafe', async () => {
      for (const sent of [undefined, 'x'.repeat(129), 'evil\tline', 'a b', '<script>']) {
        const response = await api(pair.a, 'GET', '/no/such/route', undefined, sent === undefined ? {} : { 'x-request-id': sent });
        assert.equal(response.status, 404);
        assert.match(response.body.requestId, UUID, String(sent));
      }
      const ok = await fetch(`${pair.a.url}/health`);
      assert.match(ok.headers.get('x-request-id') ?? '', UUID);
    });
  });

  it('logs one info line per business event, with the certificate number and message id', async () => {
    const co = exampleCertificate();
    const issued = await api(pair.a, 'POST', '/certificates', co, { 'idempotency-key': `obs-${co.number}` });
    assert.equal(issued.status, 201);
    const messageId = issued.body.messageId as string;
    // A replay of the same Idempotency-Key issues nothing, and logs nothing.
    assert.equal((await api(pair.a, 'POST', '/certificates', co, { 'idempotency-key': `obs-${co.number}` })).status, 200);
    const lines = (log: { lines: Line[] }, msg: string) => log.lines.filter((l) => l.msg === msg && (l.certificateNumber === co.number || l.messageId === messageId));
    const recorded = await eventually(async () => (lines(logA, 'receipt recorded').length ? lines(logA, 'receipt recorded') : undefined), 'the receipt at A');
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.level, 30);
    assert.equal(recorded[0]!.messageId, messageId);
    assert.equal(recorded[0]!.certificateNumber, co.number);
    assert.equal(recorded[0]!.status, 'accepted');
    const issuedLines = lines(logA, 'certificate issued');
    assert.equal(issuedLines.length, 1);
    assert.deepEqual([issuedLines[0]!.level, issuedLines[0]!.certificateNumber, issuedLines[0]!.messageId], [30, co.number, messageId]);
    assert.equal(typeof issuedLines[0]!.reqId, 'string');
    const received = lines(logB, 'message received');
    assert.equal(received.length, 1);
    assert.deepEqual([received[0]!.level, received[0]!.certificateNumber, received[0]!.messageId], [30, co.number, messageId]);

    // A CO B cannot accept: one line saying it was rejected, with its number and message id.
    const inbox = inboxOfB(pair);
    const bad = exampleCertificate({ issuedAt: 'not a date' } as never);
    const { envelope, jws } = await inbox.fromA('certificate.issued', bad);
    const handled = await inbox.deliver(jws, { messageId: envelope.id });
    assert.equal(handled.outcome, 'rejected');
    const rejected = logB.lines.filter((l) => l.msg === 'message rejected' && l.messageId === envelope.id);
    assert.equal(rejected.length, 1);
    assert.deepEqual([rejected[0]!.level, rejected[0]!.certificateNumber], [30, bad.number]);
  });

  it('keeps /health, /ready and the JWKS outside the rate limits', async () => {
    const gateway = await startTestGateway(A, await freshPlace('obs_limits'), { ROLE: 'api', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '3' });
    try {
      for (const path of ['/health', '/ready', '/.well-known/jwks.json']) {
        for (let i = 0; i < 5; i++) assert.equal((await fetch(gateway.url + path)).status, 200, `${path} #${i + 1}`);
      }
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`${gateway.url}/certificates/NOPE-1`)).status);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    } finally {
      await gateway.stop();
    }
  });

  describe('behind a proxy', () => {
    const limited = (from: string, gateway: Gateway) => fetch(`${gateway.url}/certificates/NOPE-1`, { headers: { 'x-forwarded-for': from } }).then((r) => r.status);

    it('with TRUST_PROXY, limits each client by its X-Forwarded-For address', async () => {
      const gateway = await startTestGateway(A, await freshPlace('obs_proxy'), { ROLE: 'api', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' });
      try {
        assert.deepEqual([await limited('203.0.113.1', gateway), await limited('203.0.113.1', gateway), await limited('203.0.113.1', gateway)], [401, 401, 429]);
        assert.equal(await limited('203.0.113.2', gateway), 401, 'another client behind the same proxy has its own bucket');
      } finally {
        await gateway.stop();
      }
    });

    it('without it, ignores X-Forwarded-For: every caller counts as the proxy', async () => {
      const gateway = await startTestGateway(A, await freshPlace('obs_noproxy'), { ROLE: 'api', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '2' });
      try {
        assert.deepEqual([await limited('203.0.113.1', gateway), await limited('203.0.113.2', gateway), await limited('203.0.113.3', gateway)], [401, 401, 429]);
      } finally {
        await gateway.stop();
      }
    });
  });

  it('exports the default metrics under their standard names', async () => {
    const text = (await api(pair.a, 'GET', '/metrics')).body as string;
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^process_resident_memory_bytes /m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.doesNotMatch(text, /^eco_(process|nodejs)_/m);
    assert.match(text, /^eco_messages_sent_total/m, 'our own metrics keep their eco_ prefix');
  });
});
