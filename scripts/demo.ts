// `npm run demo`: two gateways exchange a certificate of origin on local services.
// Starts Postgres and RabbitMQ natively, runs gateway KR-KCS (exporting) and VN-MOIT (importing)
// as two processes with their own database and vhost, wires them as peers through the admin API,
// issues a CO at KR, waits until VN has it, prints what VN's customs lookup returns and KR's
// delivery status, makes the web portal's demo users and prints the portal's addresses; at a
// terminal it then keeps the gateways up for the portal until Enter is pressed, and stops everything it started.
// With DEMO_KR_URL, DEMO_VN_URL, DEMO_KR_AMQP, DEMO_VN_AMQP, DEMO_KR_DATABASE_URL and
// DEMO_VN_DATABASE_URL set (docker compose), it starts nothing and runs the same exchange against
// those gateways, making its operator keys with the CLI.
import { execFile as execFileCb } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { readExample } from './lib/examples.ts';
import { GatewayProcess } from './lib/gateway-process.ts';
import { startServices } from './lib/services.ts';
import { wire } from './lib/wiring.ts';

const execFile = promisify(execFileCb);

const EXPORTER = 'KR-KCS';
const IMPORTER = 'VN-MOIT';

type Running = { partyId: string; url: string; amqpUrl: string; apiKey: string; process?: GatewayProcess };

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function call(gateway: Running, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(gateway.url + path, {
    method,
    headers: { authorization: `Bearer ${gateway.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
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

/**
 * The operator's first API key, made with the CLI as an operator would: `npm run eco -- migrate`
 * (only migrate touches the schema), then `npm run eco -- api-key create`.
 */
async function operatorKey(databaseUrl: string): Promise<string> {
  const cli = (...args: string[]) => execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  await cli('migrate');
  const { stdout } = await cli('api-key', 'create', '--name', 'demo operator', '--roles', 'admin,issuer,customs');
  return stdout.trim();
}

/** The portal's demo users, one a role, with one password: made with the CLI, as an operator makes the first user. */
const DEMO_PASSWORD = 'demo-portal-2026';
const demoUsers = {
  [EXPORTER]: [
    ['kr.issuer', 'issuer', 'Lee Seo-yeon'],
    ['kr.admin', 'admin', 'Park Ji-ho'],
  ],
  [IMPORTER]: [
    ['vn.customs', 'customs', 'Nguyen Van An'],
    ['vn.admin', 'admin', 'Tran Thi Mai'],
  ],
} as const;

async function portalUsers(partyId: keyof typeof demoUsers, databaseUrl: string): Promise<void> {
  for (const [name, role, displayName] of demoUsers[partyId]) {
    await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'user', 'create', '--name', name, '--roles', role, '--display-name', displayName], {
      env: { ...process.env, DATABASE_URL: databaseUrl, ECO_USER_PASSWORD: DEMO_PASSWORD },
    }).catch((error: { stderr?: string }) => {
      // Run again against the same gateways (compose): the user is there already.
      if (!/exists/.test(error.stderr ?? '')) throw error;
    });
  }
}

function printPortal(gateways: { partyId: string; url: string }[]): void {
  step(`the web portal: sign in as these users (password for all of them: ${DEMO_PASSWORD})`);
  for (const g of gateways) {
    const users = demoUsers[g.partyId as keyof typeof demoUsers].map(([name, role]) => `${name} (${role})`).join(', ');
    console.log(`${g.partyId}: ${g.url}/portal  users ${users}`);
  }
}

/** `peerUrl`: how the other gateway reaches our inbox, as its own broker user (write to eco.inbound only). */
async function startGateway(partyId: string, databaseUrl: string, amqpUrl: string, peerUrl: string): Promise<Running> {
  const gateway = new GatewayProcess(partyId, { PARTY_ID: partyId, DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, { inheritOutput: true });
  gateway.apiKey = await operatorKey(databaseUrl);
  await gateway.start();
  console.log(`${partyId} is up at ${gateway.url} (pid ${gateway.pid}); operator key eco_${gateway.apiKey.split('_')[1]}_… made with npm run eco -- api-key create`);
  return { partyId, url: gateway.url, amqpUrl: peerUrl, apiKey: gateway.apiKey, process: gateway };
}

const example = (file: string) => readExample<any>(file);

/** The demo proper: wire two running gateways, issue one CO of each kind at KR, replace one, cancel one, look them up at VN. */
async function exchange(kr: Running, vn: Running): Promise<void> {
  step("registering the example agreements at both, and each gateway as the other's peer (broker URL + JWKS URL)");
  const { peerAtA, peerAtB } = await wire(kr, vn);
  console.log(`${kr.partyId} knows ${vn.partyId}: key ${peerAtA.jwks.keys[0].kid}; ${vn.partyId} knows ${kr.partyId}: key ${peerAtB.jwks.keys[0].kid}`);

  // A fresh suffix keeps numbers unique when the demo runs again against the same gateways (compose).
  const suffix = Date.now().toString(36).toUpperCase();
  const [preferential, nonPreferential, declaration] = ['certificate.json', 'certificate-non-preferential.json', 'origin-declaration.json'].map((file) => {
    const co = example(file);
    return { ...co, number: `${co.number}-${suffix}` };
  });

  step('KR-KCS issues one certificate of each kind');
  for (const co of [preferential, nonPreferential, declaration]) {
    const issued = await call(kr, 'POST', '/certificates', co);
    if (issued.status !== 201) throw new Error(`issuing ${co.number} failed (${issued.status}): ${JSON.stringify(issued.body, null, 2)}`);
    console.log(`${co.kind.padEnd(18)} ${co.number} under ${co.agreement ?? 'the bilateral arrangement'} -> ${issued.body.recipient}, delivery ${issued.body.delivery.status}`);
  }

  step('KR-KCS replaces the preferential certificate (version 2) and cancels the non-preferential one');
  const replacement = { ...preferential, version: 2, remarks: 'Version 2: quantity corrected after re-weighing', items: [{ ...preferential.items[0], quantity: { value: '1150', unit: 'NAR' } }] };
  const replaced = await call(kr, 'POST', `/certificates/${preferential.number}/replace`, replacement);
  if (replaced.status !== 201) throw new Error(`replace failed (${replaced.status}): ${JSON.stringify(replaced.body, null, 2)}`);
  const cancelled = await call(kr, 'POST', `/certificates/${nonPreferential.number}/cancel`, { reason: 'Issued in error: consignment split' });
  if (cancelled.status !== 200) throw new Error(`cancel failed (${cancelled.status}): ${JSON.stringify(cancelled.body, null, 2)}`);
  console.log(`${preferential.number} -> version ${replaced.body.version}; ${nonPreferential.number} -> ${cancelled.body.status}`);

  step('VN-MOIT customs looks each certificate up by number');
  const expected = [
    [preferential.number, 2, 'valid'],
    [nonPreferential.number, 1, 'cancelled'],
    [declaration.number, 1, 'valid'],
  ] as const;
  for (const [number, version, status] of expected) {
    const lookup = await waitFor(`${number} version ${version} ${status} at VN-MOIT`, async () => {
      const r = await call(vn, 'GET', `/certificates/${number}`);
      return r.status === 200 && r.body.version === version && r.body.status === status ? r.body : undefined;
    });
    const item = lookup.certificate.items[0];
    console.log(
      `${number}: ${lookup.kind}, version ${lookup.version}, ${lookup.status}${lookup.cancellation ? ` (${lookup.cancellation.reason})` : ''}, ` +
        `signature verified: ${lookup.signatureVerified}, history ${lookup.history.map((h: any) => `v${h.version} ${h.status}`).join(', ')}; ` +
        `item 1: ${item.description}, HS ${item.hsCode}, ${item.quantity.value} ${item.quantity.unit}, origin ${item.originCountry}${item.originCriterion ? `/${item.originCriterion}` : ''}`,
    );
  }

  step('KR-KCS delivery status (signed receipts from VN-MOIT)');
  for (const [number] of expected) {
    const atKr = await waitFor(`receipts for ${number} at KR-KCS`, async () => {
      const r = await call(kr, 'GET', `/certificates/${number}`);
      return r.body.deliveries.every((d: { status: string }) => d.status === 'accepted') ? r.body : undefined;
    });
    for (const d of atKr.deliveries) console.log(`${number} ${d.type.padEnd(21)} -> ${d.peer}: ${d.status} (receipt ${d.receiptAt})`);
  }

  step('KR-KCS prints a sealed copy of the replaced certificate; anyone can verify it without a gateway');
  const printed = await fetch(`${kr.url}/certificates/${preferential.number}`, { headers: { authorization: `Bearer ${kr.apiKey}`, accept: 'application/pdf' } });
  if (printed.status === 503) {
    console.log(`no sealed copy: ${((await printed.json()) as { detail: string }).detail}`);
  } else {
    if (printed.status !== 200) throw new Error(`printing failed (${printed.status}): ${await printed.text()}`);
    const file = join(mkdtempSync(join(tmpdir(), 'eco-demo-')), `${preferential.number}.pdf`);
    writeFileSync(file, Buffer.from(await printed.arrayBuffer()));
    // A demo shortcut: a real verifier pins KR-KCS's trust key from a letter, not from KR-KCS's own list.
    const list = await (await fetch(`${kr.url}/.well-known/eco-trust.jws`)).text();
    const pin = (JSON.parse(Buffer.from(list.split('.')[1]!, 'base64url').toString()) as { trustKeys: string[] }).trustKeys[0]!;
    const { stdout } = await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'verify', file, `--pin=${pin}`]).catch((e: { stdout: string }) => e);
    console.log(`${file}\nnpm run eco -- verify ${file} --pin=${pin}\n${stdout.trim()}`);
  }

  step('VN-MOIT customs checks two declarations against the replaced preferential certificate');
  const claim = (ref: string, quantity: string) => ({
    declarationRef: ref,
    certificateNumber: preferential.number,
    exportCountry: 'KR',
    importer: { id: preferential.importer.id },
    items: [{ itemNumber: 1, hsCode: '8504400000', originCountry: 'KR', quantity: { value: quantity, unit: 'NAR' } }],
    confirm: true,
  });
  for (const [ref, quantity] of [
    ['VN-DECL-0001', '1000'],
    ['VN-DECL-0002', '400'],
  ] as const) {
    const result = await call(vn, 'POST', '/clearance/checks', claim(ref, quantity));
    if (result.status !== 201) throw new Error(`check failed (${result.status}): ${JSON.stringify(result.body)}`);
    const findings = result.body.findings.map((f: any) => `${f.code} (${f.severity}): ${f.message}`).join('; ') || 'no findings';
    console.log(`${ref}: ${quantity} NAR claimed -> ${result.body.decision.toUpperCase()}${result.body.status === 'confirmed' ? ', drawn down' : ''}; ${findings}`);
  }
  const utilized = await waitFor('the utilization reported to KR-KCS', async () => {
    const r = await call(kr, 'GET', `/certificates/${preferential.number}`);
    return r.body.utilizations?.length ? r.body.utilizations : undefined;
  });
  console.log(`KR-KCS learns of the use: ${utilized.map((u: any) => `${u.declarationRef} drew ${u.items.map((i: any) => `${i.quantity} of item ${i.itemNumber}`).join(', ')}`).join('; ')}`);

  step("audit: every change above is in each gateway's hash-chained log");
  for (const g of [kr, vn]) {
    const chain = (await call(g, 'GET', '/admin/audit/verify')).body;
    if (!chain.valid) throw new Error(`${g.partyId}: audit chain broken at ${JSON.stringify(chain.firstBroken)}`);
    console.log(`${g.partyId}: ${chain.entries} entries, chain valid, head ${chain.head.hash.slice(0, 16)}…`);
  }

  step('done: certificates travelled signed from KR-KCS to VN-MOIT, were verified there, acknowledged with signed receipts and used at clearance');
}

async function main(): Promise<void> {
  const { DEMO_KR_URL, DEMO_VN_URL, DEMO_KR_AMQP, DEMO_VN_AMQP, DEMO_KR_DATABASE_URL, DEMO_VN_DATABASE_URL } = process.env;
  if (DEMO_KR_URL && DEMO_VN_URL && DEMO_KR_AMQP && DEMO_VN_AMQP && DEMO_KR_DATABASE_URL && DEMO_VN_DATABASE_URL) {
    const kr = { partyId: EXPORTER, url: DEMO_KR_URL, amqpUrl: DEMO_KR_AMQP, apiKey: await operatorKey(DEMO_KR_DATABASE_URL) };
    const vn = { partyId: IMPORTER, url: DEMO_VN_URL, amqpUrl: DEMO_VN_AMQP, apiKey: await operatorKey(DEMO_VN_DATABASE_URL) };
    for (const g of [kr, vn]) await waitFor(`gateway ${g.partyId} at ${g.url}`, async () => ((await call(g, 'GET', '/health')).status === 200 ? true : undefined), 120_000);
    await exchange(kr, vn);
    await portalUsers(EXPORTER, DEMO_KR_DATABASE_URL);
    await portalUsers(IMPORTER, DEMO_VN_DATABASE_URL);
    printPortal([kr, vn]);
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
    // Each party gets its own user on the other's broker, allowed only to publish to eco.inbound.
    const krReachedByVn = await services.rabbit.addPeerUser('kr', 'vn-moit', 'demo-vn-password');
    const vnReachedByKr = await services.rabbit.addPeerUser('vn', 'kr-kcs', 'demo-kr-password');
    console.log("broker users: vn-moit on KR's vhost and kr-kcs on VN's, each allowed to write to eco.inbound and nothing else");

    step('starting gateway KR-KCS (exporting) and VN-MOIT (importing)');
    gateways.push(await startGateway(EXPORTER, services.postgres.url('eco_kr'), services.rabbit.url('kr'), krReachedByVn));
    gateways.push(await startGateway(IMPORTER, services.postgres.url('eco_vn'), services.rabbit.url('vn'), vnReachedByKr));
    await exchange(gateways[0]!, gateways[1]!);
    await portalUsers(EXPORTER, services.postgres.url('eco_kr'));
    await portalUsers(IMPORTER, services.postgres.url('eco_vn'));
    printPortal(gateways);
    // At a terminal the gateways stay up for a person to try the portal; DEMO_EXIT=1 (or no terminal) stops at once.
    if (process.stdin.isTTY && process.env.DEMO_EXIT !== '1') {
      console.log('\nthe gateways stay up for the portal: press Enter to stop them and the services');
      process.stdin.resume();
      await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
      process.stdin.pause();
    }
  } finally {
    await Promise.all(gateways.map((g) => g.process?.stop()));
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
