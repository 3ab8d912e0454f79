// `npm run demo`: two gateways exchange a certificate of origin on local services.
// Starts Postgres and RabbitMQ natively, runs gateway KR-KCS (exporting) and VN-MOIT (importing)
// as two processes with their own database and vhost, wires them as peers through the admin API,
// issues a CO at KR, waits until VN has it, prints what VN's customs lookup returns and KR's
// delivery status, and stops everything it started.
// With DEMO_KR_URL, DEMO_VN_URL, DEMO_KR_AMQP and DEMO_VN_AMQP set (docker compose), it starts
// nothing and runs the same exchange against those gateways.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import pg from 'pg';
import { freePort, startServices } from './lib/services.ts';

const EXPORTER = 'KR-KCS';
const IMPORTER = 'VN-MOIT';

type Running = { partyId: string; url: string; amqpUrl: string; process?: ChildProcess };

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function call(gateway: Running, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(gateway.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startGateway(partyId: string, databaseUrl: string, amqpUrl: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PARTY_ID: partyId, DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, HTTP_PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const gateway = { partyId, url: `http://127.0.0.1:${port}`, amqpUrl, process: child };
  await waitFor(`gateway ${partyId} to answer /health`, async () => ((await call(gateway, 'GET', '/health')).status === 200 ? true : undefined));
  console.log(`${partyId} is up at ${gateway.url} (pid ${child.pid})`);
  return gateway;
}

async function stopGateway(gateway: Running): Promise<void> {
  if (!gateway.process || gateway.process.exitCode !== null) return;
  gateway.process.kill('SIGTERM');
  await once(gateway.process, 'exit');
}

/** The demo proper: wire two running gateways as peers, issue at KR, look up at VN. */
async function exchange(kr: Running, vn: Running): Promise<void> {
  step('registering each gateway as the other\'s peer (broker URL + JWKS URL)');
  for (const [at, peer] of [[kr, vn], [vn, kr]] as const) {
    const response = await call(at, 'PUT', `/admin/peers/${peer.partyId}`, {
      name: `gateway ${peer.partyId}`,
      amqpUrl: peer.amqpUrl,
      jwksUrl: `${peer.url}/.well-known/jwks.json`,
      agreements: ['KR-VN-FTA'],
    });
    if (response.status !== 200) throw new Error(`registering ${peer.partyId} at ${at.partyId} failed: ${JSON.stringify(response.body)}`);
    console.log(`${at.partyId} knows ${peer.partyId}: key ${response.body.jwks.keys[0].kid}`);
  }

  step('KR-KCS issues a certificate of origin');
  const certificate = JSON.parse(readFileSync(new URL('../examples/certificate.json', import.meta.url), 'utf8'));
  certificate.number = `KR-${new Date().getUTCFullYear()}-${Date.now().toString().slice(-6)}`;
  const issued = await call(kr, 'POST', '/certificates', certificate);
  if (issued.status !== 201) throw new Error(`issue failed (${issued.status}): ${JSON.stringify(issued.body, null, 2)}`);
  console.log(JSON.stringify(issued.body, null, 2));

  step('VN-MOIT customs looks the certificate up by number');
  const started = Date.now();
  const lookup = await waitFor('the certificate to arrive at VN-MOIT', async () => {
    const r = await call(vn, 'GET', `/certificates/${certificate.number}`);
    return r.status === 200 ? r.body : undefined;
  });
  console.log(`arrived within ${Date.now() - started} ms of issue:`);
  const { certificate: dataset, ...summary } = lookup;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`goods: ${dataset.items.map((i: any) => `${i.itemNumber}. ${i.description} (HS ${i.hsCode}, ${i.quantity.value} ${i.quantity.unit}, origin ${i.originCountry}/${i.originCriterion})`).join('; ')}`);

  step('KR-KCS delivery status');
  const atKr = await waitFor('KR-KCS to record the broker confirm', async () => {
    const r = await call(kr, 'GET', `/certificates/${certificate.number}`);
    return r.body.deliveries.every((d: { status: string }) => d.status !== 'queued') ? r.body : undefined;
  });
  for (const d of atKr.deliveries) console.log(`${d.type} ${d.messageId} -> ${d.peer}: ${d.status} (attempts ${d.attempts}, sent ${d.sentAt})`);

  step('done: the certificate travelled signed from KR-KCS to VN-MOIT and was verified there');
}

async function main(): Promise<void> {
  const { DEMO_KR_URL, DEMO_VN_URL, DEMO_KR_AMQP, DEMO_VN_AMQP } = process.env;
  if (DEMO_KR_URL && DEMO_VN_URL && DEMO_KR_AMQP && DEMO_VN_AMQP) {
    const kr = { partyId: EXPORTER, url: DEMO_KR_URL, amqpUrl: DEMO_KR_AMQP };
    const vn = { partyId: IMPORTER, url: DEMO_VN_URL, amqpUrl: DEMO_VN_AMQP };
    for (const g of [kr, vn]) await waitFor(`gateway ${g.partyId} at ${g.url}`, async () => ((await call(g, 'GET', '/health')).status === 200 ? true : undefined), 120_000);
    await exchange(kr, vn);
    return;
  }

  step('starting Postgres and RabbitMQ (native, temporary folders, free ports)');
  const services = await startServices();
  const gateways: Running[] = [];
  try {
    console.log(`postgres on :${services.postgres.port}, rabbitmq on :${services.rabbit.port}`);
    const admin = new pg.Client({ connectionString: services.postgres.url() });
    await admin.connect();
    for (const db of ['eco_kr', 'eco_vn']) await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    for (const vhost of ['kr', 'vn']) await services.rabbit.addVhost(vhost);

    step('starting gateway KR-KCS (exporting) and VN-MOIT (importing)');
    gateways.push(await startGateway(EXPORTER, services.postgres.url('eco_kr'), services.rabbit.url('kr')));
    gateways.push(await startGateway(IMPORTER, services.postgres.url('eco_vn'), services.rabbit.url('vn')));
    await exchange(gateways[0]!, gateways[1]!);
  } finally {
    await Promise.all(gateways.map(stopGateway));
    await services.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
