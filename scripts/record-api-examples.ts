// `npm run record-api-examples`: runs two real gateways on native services, calls every operation
// of the REST API once as its users would, and writes what was sent and answered to
// examples/api-examples.json. src/http/document.ts puts these into openapi.yaml wherever a route
// declares no example of its own, so every operation shows a real request and a real answer.
// Run it again after changing an answer's shape (the contract test then fails until you do).
import { writeFileSync } from 'node:fs';
import amqp from 'amqplib';
import pg from 'pg';
import type { Certificate } from '../src/dataset/index.ts';
import { readExample } from './lib/examples.ts';
import { GatewayProcess } from './lib/gateway-process.ts';
import { startServices } from './lib/services.ts';
import { wire } from './lib/wiring.ts';

type Recorded = { request?: unknown; status: number; response?: unknown };
const recorded: Record<string, Recorded> = {};
const OUT = new URL('../examples/api-examples.json', import.meta.url);

/** Long lists and texts are cut: an example shows the shape, not a whole database. */
function trimmed(value: unknown): unknown {
  if (Array.isArray(value)) return value.slice(0, 2).map(trimmed);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, trimmed(v)]));
  return value;
}

function textExample(text: string, lines: number): string {
  return text.split('\n').slice(0, lines).join('\n');
}

async function call(gateway: GatewayProcess, operationId: string, method: string, path: string, body?: unknown, accept = 'application/json'): Promise<any> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { ...gateway.apiHeaders, accept, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${operationId}: ${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  const type = response.headers.get('content-type') ?? '';
  const parsed = type.includes('json') ? JSON.parse(text) : text;
  const example = typeof parsed === 'string' ? textExample(parsed, type.includes('html') ? 12 : 20) : trimmed(parsed);
  recorded[operationId] = { ...(body === undefined ? {} : { request: body }), status: response.status, ...(text ? { response: example } : {}) };
  return parsed;
}

// Answers are read as the API documents them.
const json = (response: Response): Promise<any> => response.json();

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const services = await startServices({ fast: true });
const gateways: GatewayProcess[] = [];
try {
  for (const vhost of ['kr', 'vn']) await services.rabbit.addVhost(vhost);
  const admin = new pg.Client({ connectionString: services.postgres.url() });
  await admin.connect();
  for (const db of ['eco_kr', 'eco_vn']) await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const kr = new GatewayProcess('examples-kr', { PARTY_ID: 'KR-KCS', DATABASE_URL: services.postgres.url('eco_kr'), AMQP_URL: services.rabbit.url('kr') });
  const vn = new GatewayProcess('examples-vn', { PARTY_ID: 'VN-MOIT', DATABASE_URL: services.postgres.url('eco_vn'), AMQP_URL: services.rabbit.url('vn') });
  gateways.push(kr, vn);
  await Promise.all([kr.start(), vn.start()]);
  const krByVn = await services.rabbit.addPeerUser('kr', 'vn-moit', 'examples-vn-password');
  const vnByKr = await services.rabbit.addPeerUser('vn', 'kr-kcs', 'examples-kr-password');
  await wire({ partyId: 'KR-KCS', url: kr.url, amqpUrl: krByVn, apiKey: kr.apiKey }, { partyId: 'VN-MOIT', url: vn.url, amqpUrl: vnByKr, apiKey: vn.apiKey });

  // Health, keys and agreements.
  await call(kr, 'getHealth', 'GET', '/health');
  await call(kr, 'getJwks', 'GET', '/.well-known/jwks.json');
  await call(kr, 'listAgreements', 'GET', '/admin/agreements');
  await call(kr, 'getAgreement', 'GET', '/admin/agreements/KR-VN-FTA');

  // Peers (VN as KR registered it).
  const peer = await call(kr, 'getPeer', 'GET', '/admin/peers/VN-MOIT');
  await call(kr, 'registerPeer', 'PUT', '/admin/peers/VN-MOIT', {
    name: peer.name,
    amqpUrl: 'amqps://kr-kcs:<password>@broker.vn.example/eco',
    jwksUrl: 'https://gateway.vn.example/.well-known/jwks.json',
    agreements: ['KR-VN-FTA'],
    encrypt: false,
  }).catch(() => undefined);
  // Registering an unreachable JWKS URL fails by design: record the registration the wiring made instead.
  recorded.registerPeer ??= {
    request: { name: peer.name, amqpUrl: 'amqps://kr-kcs:<password>@broker.vn.example/eco', jwksUrl: 'https://gateway.vn.example/.well-known/jwks.json', agreements: ['KR-VN-FTA'], encrypt: false },
    status: 200,
    response: trimmed(peer),
  };
  await call(kr, 'listPeers', 'GET', '/admin/peers');
  await call(kr, 'pingPeer', 'POST', '/admin/peers/VN-MOIT/ping');
  await call(kr, 'refreshPeerKeys', 'POST', '/admin/peers/VN-MOIT/refresh-keys');
  await call(kr, 'suspendPeer', 'POST', '/admin/peers/VN-MOIT/suspend');
  await call(kr, 'resumePeer', 'POST', '/admin/peers/VN-MOIT/resume');

  // Issue, look up, deliver.
  const co = { ...readExample<Certificate>('certificate.json'), number: `KR-${new Date().getUTCFullYear()}-000123` };
  await call(kr, 'validateCertificate', 'POST', '/certificates/validate', co);
  const issued = await call(kr, 'issueCertificate', 'POST', '/certificates', co);
  const delivery = await until('the receipt', async () => {
    const d = await fetch(`${kr.url}/messages/${issued.messageId}`, { headers: kr.apiHeaders }).then(json);
    return d.status === 'accepted' ? d : undefined;
  });
  await call(kr, 'getDelivery', 'GET', `/messages/${delivery.messageId ?? issued.messageId}`);
  await call(kr, 'getReceipt', 'GET', `/messages/${issued.messageId}/receipt`, undefined, 'application/jose');
  await call(vn, 'getCertificate', 'GET', `/certificates/${co.number}`);

  // The printed seal, its status, the trust lists (PROFILE 1.2).
  const { seal } = await call(kr, 'getSeal', 'GET', `/certificates/${co.number}/seal`);
  const sealed = JSON.parse(Buffer.from(seal.slice('ECO1:'.length).split('.')[1], 'base64url').toString());
  await call(kr, 'getSealStatus', 'GET', `/status?h=${sealed.h.slice(0, 22)}&nonce=Zm9yLWV4YW1wbGUtb25seQ`, undefined, 'application/jose');
  await call(kr, 'getTrustList', 'GET', '/.well-known/eco-trust.jws', undefined, 'application/jose');
  await call(kr, 'getPartyTrustList', 'GET', '/.well-known/eco-trust/KR-KCS.jws', undefined, 'application/jose');
  await call(kr, 'getVerifyPage', 'GET', '/verify', undefined, 'text/html');
  await until('the check recorded', async () => ((await call(kr, 'listStatusChecks', 'GET', `/certificates/${co.number}/checks`)).total > 0 ? true : undefined));
  await call(kr, 'unusualStatusChecks', 'GET', '/admin/status-checks?days=7');
  const vnList = await (await fetch(`${vn.url}/.well-known/eco-trust.jws`)).text();
  const vnTrustKey = JSON.parse(Buffer.from(vnList.split('.')[1]!, 'base64url').toString()).trustKeys[0];
  await call(kr, 'registerPeerTrustList', 'PUT', '/admin/peers/VN-MOIT/trust-list', { url: `${vn.url}/.well-known/eco-trust.jws`, pins: [vnTrustKey] });
  await call(kr, 'getPeerTrustList', 'GET', '/admin/peers/VN-MOIT/trust-list');
  await call(kr, 'refreshPeerTrustList', 'POST', '/admin/peers/VN-MOIT/trust-list/refresh');
  // A message the relay gave up on (here marked so by hand: waiting out RELAY_MAX_AGE_SECONDS is too long).
  const fourth = { ...co, number: `KR-${new Date().getUTCFullYear()}-000126` };
  const given = await fetch(`${kr.url}/certificates`, { method: 'POST', headers: { ...kr.apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify(fourth) }).then(json);
  const krDb = new pg.Client({ connectionString: services.postgres.url('eco_kr') });
  await krDb.connect();
  await until('the fourth CO accepted', async () => ((await krDb.query("SELECT 1 FROM outbox WHERE id = $1 AND status = 'accepted'", [given.messageId])).rowCount ? true : undefined));
  await krDb.query("UPDATE outbox SET status = 'dead', receipt_status = NULL, last_error = 'given up after 25 attempts: no receipt' WHERE id = $1", [given.messageId]);
  await krDb.end();
  await call(kr, 'resendMessage', 'POST', `/admin/messages/${given.messageId}/resend`);
  await call(kr, 'searchMessages', 'GET', `/admin/messages?number=${co.number}`);
  await call(kr, 'getMessage', 'GET', `/admin/messages/${issued.messageId}`);

  // Clearance at VN.
  const item = co.items[0]!;
  const check = await call(vn, 'checkClaim', 'POST', '/clearance/checks', {
    declarationRef: 'VN-DECL-2026-0001',
    certificateNumber: co.number,
    exportCountry: 'KR',
    importer: { id: 'VN0312345678' },
    items: [{ itemNumber: item.itemNumber, hsCode: item.hsCode, originCountry: item.originCountry, quantity: { value: '400', unit: 'NAR' } }],
  });
  await call(vn, 'getClearanceCheck', 'GET', `/clearance/checks/${check.id}`);
  await call(vn, 'confirmClearanceCheck', 'POST', `/clearance/checks/${check.id}/confirm`);

  // A replacement and a cancellation.
  const second = { ...co, number: `KR-${new Date().getUTCFullYear()}-000124` };
  await fetch(`${kr.url}/certificates`, { method: 'POST', headers: { ...kr.apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify(second) });
  await call(kr, 'replaceCertificate', 'POST', `/certificates/${second.number}/replace`, { ...second, version: 2, remarks: 'Replaces version 1: the invoice number was wrong' });
  const third = { ...co, number: `KR-${new Date().getUTCFullYear()}-000125` };
  await fetch(`${kr.url}/certificates`, { method: 'POST', headers: { ...kr.apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify(third) });
  await call(kr, 'cancelCertificate', 'POST', `/certificates/${third.number}/cancel`, { reason: 'Issued in error: the goods were not shipped' });
  await until('the cancellation at VN', async () => {
    const c = await fetch(`${vn.url}/certificates/${third.number}`, { headers: vn.apiHeaders }).then(json);
    return c.status === 'cancelled' ? c : undefined;
  });
  await call(vn, 'listRiskFlaggedCertificates', 'GET', '/clearance/risk');

  // Verification: VN asks, KR answers.
  const asked = await call(vn, 'requestVerification', 'POST', '/verifications', {
    certificateNumber: co.number,
    issuer: 'KR-KCS',
    reasons: ['The declared origin criterion does not match the supplier records'],
    questions: 'Please confirm the regional value content of item 1.',
  });
  const atKr = await until('the request at KR', async () => {
    const list = await fetch(`${kr.url}/verifications?role=verifier`, { headers: kr.apiHeaders }).then(json);
    return list.verifications.find((v: { requestId: string }) => v.requestId === asked.requestId);
  });
  await call(kr, 'listVerifications', 'GET', '/verifications?role=verifier');
  await call(kr, 'getVerification', 'GET', `/verifications/${atKr.id}`);
  await call(kr, 'answerVerification', 'POST', `/verifications/${atKr.id}/answer`, { result: 'confirmed', findings: 'Regional value content 52 %, from the producer records of 2026.' });

  // Dead letters at VN: a body that is no JWS at all.
  const connection = await amqp.connect(vnByKr);
  const channel = await connection.createConfirmChannel();
  channel.publish('eco.inbound', 'VN-MOIT', Buffer.from('not a JWS'), {
    messageId: 'f0f0f0f0-0000-4000-8000-000000000001',
    appId: 'KR-KCS',
    type: 'certificate.issued',
    contentType: 'application/jose',
  });
  await channel.waitForConfirms();
  await connection.close();
  const letter = await until('the dead letter', async () => {
    const list = await fetch(`${vn.url}/admin/dead-letters`, { headers: vn.apiHeaders }).then(json);
    return list.deadLetters?.[0] ?? list[0];
  });
  await call(vn, 'listDeadLetters', 'GET', '/admin/dead-letters');
  await call(vn, 'getDeadLetter', 'GET', `/admin/dead-letters/${letter.id}`);
  await call(vn, 'replayDeadLetter', 'POST', `/admin/dead-letters/${letter.id}/replay`);
  const again = await until('the replayed dead letter', async () => {
    const list = await fetch(`${vn.url}/admin/dead-letters?status=held`, { headers: vn.apiHeaders }).then(json);
    return (list.deadLetters ?? list).find((l: { id: string }) => l.id !== letter.id);
  });
  await call(vn, 'discardDeadLetter', 'POST', `/admin/dead-letters/${again.id}/discard`);

  // Reconciliation of today so far.
  const day = new Date().toISOString().slice(0, 10);
  await call(kr, 'sendReconciliationStatement', 'POST', '/admin/reconciliations', { peer: 'VN-MOIT', periodStart: `${day}T00:00:00Z`, periodEnd: `${day}T23:59:59Z` });
  await call(kr, 'listReconciliations', 'GET', '/admin/reconciliations?peer=VN-MOIT');

  // API keys and our own keys.
  const key = await call(kr, 'createApiKey', 'POST', '/admin/api-keys', { name: 'VN customs declaration system', roles: ['customs'], rateLimitPerMinute: 12000 });
  recorded.createApiKey!.response = { ...(recorded.createApiKey!.response as object), key: 'eco_1a2b3c4d_<shown once>' };
  await call(kr, 'listApiClients', 'GET', '/admin/api-keys');
  await call(kr, 'revokeApiKey', 'DELETE', `/admin/api-keys/${key.client.id}`);
  await call(kr, 'listKeys', 'GET', '/admin/keys');
  const created = await call(kr, 'createKey', 'POST', '/admin/keys', { use: 'sig' });
  await call(kr, 'activateKey', 'POST', `/admin/keys/${created.kid}/activate`);
  const spare = await fetch(`${kr.url}/admin/keys`, { method: 'POST', headers: { ...kr.apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ use: 'sig' }) }).then(json);
  await call(kr, 'retireKey', 'POST', `/admin/keys/${spare.kid}/retire`);
  const compromised = await fetch(`${kr.url}/admin/keys`, { method: 'POST', headers: { ...kr.apiHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ use: 'sig' }) }).then(json);
  await call(kr, 'revokeKey', 'POST', `/admin/keys/${compromised.kid}/revoke`, { at: new Date(Date.now() - 3_600_000).toISOString() });

  // Operators' views.
  await call(kr, 'getReadiness', 'GET', '/ready');
  await call(kr, 'listAuditEntries', 'GET', '/admin/audit?limit=2');
  await call(kr, 'verifyAuditChain', 'GET', '/admin/audit/verify');
  await call(kr, 'getOverview', 'GET', '/admin/overview');
  await call(kr, 'getMetrics', 'GET', '/metrics', undefined, 'text/plain');
  await call(kr, 'getConsole', 'GET', '/console', undefined, 'text/html');

  const sorted = Object.fromEntries(Object.entries(recorded).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(OUT, `${JSON.stringify(sorted, null, 2)}\n`);
  console.log(`recorded ${Object.keys(sorted).length} operations into examples/api-examples.json`);
} finally {
  await Promise.all(gateways.map((g) => g.stop()));
  await services.stop();
}
