// The README's "Run one gateway" walk-through, run as written: each ```sh block between the
// walkthrough markers goes to bash unchanged, in order, from the repository's root, against the
// Postgres and RabbitMQ that `npm test` started. The environment is what a filled-in .env and the
// peer's two URLs give a human; variables a block sets (API_KEY, GW, NUMBER) reach the next block
// as they would in one shell. The peer, VN-MOIT, is a test gateway that registers us at the point
// where the README tells the operator to hand it our URLs, so the CO issued by the walk-through is
// delivered and answered with a signed receipt. The configuration block runs in a scratch folder
// with a copy of .env.example.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../scripts/lib/services.ts';
import { loadConfig } from '../../src/config.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, api, B, eventually, freshPlace, registerAgreements, services, startTestGateway } from '../support/gateways.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The ```sh blocks between `<!-- NAME:begin` and `<!-- NAME:end -->`, verbatim. */
function blocks(name: string): string[] {
  const region = new RegExp(`<!-- ${name}:begin[^>]*-->([\\s\\S]*?)<!-- ${name}:end -->`).exec(readme)?.[1];
  assert.ok(region, `the README marks a ${name} region`);
  return [...region.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const scratch = mkdtempSync(join(tmpdir(), 'eco-walkthrough-'));
/** The shell's variables between blocks: `export -p` after each, read back before the next. */
const stateFile = join(scratch, 'state.sh');
writeFileSync(stateFile, '');
/** Process groups the blocks started (`node dist/main.js &` outlives its block), stopped at the end. */
const groups = new Set<number>();
process.once('exit', () => {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {}
  }
});

let run = 0;
/** Runs one block with bash as its own process group; its output (and any background job's) goes to a file. */
async function bash(block: string, options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const n = ++run;
  const [out, err] = [join(scratch, `${n}.out`), join(scratch, `${n}.err`)];
  const script = `set -euo pipefail\nset -a\n. '${stateFile}'\n${block}\nexport -p > '${stateFile}'\n`;
  const child = spawn('bash', ['-c', script], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', openSync(out, 'w'), openSync(err, 'w')] });
  groups.add(child.pid!);
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  }, options.timeoutMs ?? 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
}

/** A variable as the last block left it. */
function shellVariable(name: string): string | undefined {
  const line = readFileSync(stateFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`declare -x ${name}=`));
  return line === undefined ? undefined : JSON.parse(line.slice(`declare -x ${name}=`.length).replace(/\\\$/g, '$').replace(/\\`/g, '`'));
}

/** curl's `-w '\n%{http_code}\n'`: the body, then the status on the last line. */
function answer(stdout: string): { status: number; body: any } {
  // A background gateway may log into the same output: take the last status line and the body before it.
  const lines = stdout.split('\n');
  const at = lines.findLastIndex((line) => /^\d{3}$/.test(line));
  assert.ok(at > 0, `no status line in ${JSON.stringify(stdout)}`);
  const text = lines[at - 1]!;
  return { status: Number(lines[at]), body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function stopGroup(group: number): Promise<void> {
  try {
    process.kill(-group, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      process.kill(-group, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) {
      process.kill(-group, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The variables of a faked clock (Debian's faketime), if the suite runs under one. */
function clockOf(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => /^(LD_PRELOAD|FAKETIME.*)$/.test(e[0]) && e[1] !== undefined));
}

describe('README walk-through: run one gateway', () => {
  const steps = blocks('walkthrough');
  let vn: Gateway;
  let env: NodeJS.ProcessEnv;
  let port: number;
  let peerPassword: string;
  let ourUrlForPeer: string;

  before(async () => {
    assert.equal(steps.length, 6, 'build and key, start, agreement, peer, issue, look up');
    const [ours, theirs] = await Promise.all([freshPlace('walk_kr'), freshPlace('walk_vn')]);
    // The peer: its own gateway and broker vhost, with a user on it for us, and one on ours for it.
    vn = await startTestGateway(B, theirs);
    await registerAgreements(vn);
    const suffix = randomBytes(4).toString('hex');
    peerPassword = randomBytes(12).toString('hex');
    const peerAmqpUrl = await services.rabbit.addPeerUser(theirs.vhost, `kr-kcs-${suffix}`, peerPassword);
    ourUrlForPeer = await services.rabbit.addPeerUser(ours.vhost, `vn-moit-${suffix}`, randomBytes(12).toString('hex'));
    port = await freePort();
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // A clock shifted for the whole suite (faketime) shifts the reader's shell too: one clock on both sides.
      ...clockOf(process.env),
      // A filled-in .env ...
      PARTY_ID: A,
      DATABASE_URL: ours.databaseUrl,
      AMQP_URL: ours.amqpUrl,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      // ... and what the peer sent out of band.
      PEER_AMQP_URL: peerAmqpUrl,
      PEER_JWKS_URL: `${vn.url}/.well-known/jwks.json`,
    };
  });

  after(async () => {
    for (const group of groups) await stopGroup(group);
    await vn?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('configuration: a copy of .env.example with a generated key loads as a valid configuration', async () => {
    const [block] = blocks('env-setup');
    const folder = mkdtempSync(join(scratch, 'env-'));
    copyFileSync(join(root, '.env.example'), join(folder, '.env.example'));
    const result = await bash(block!, { cwd: folder, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...clockOf(process.env) } });
    assert.equal(result.code, 0, result.stderr);
    const key = shellVariable('KEY_ENCRYPTION_KEY');
    assert.equal(Buffer.from(key ?? '', 'base64').length, 32, 'a generated 32-byte key');
    const config = loadConfig({ PARTY_ID: shellVariable('PARTY_ID'), DATABASE_URL: shellVariable('DATABASE_URL'), AMQP_URL: shellVariable('AMQP_URL'), KEY_ENCRYPTION_KEY: key });
    assert.equal(config.partyId, 'KR-KCS');
    writeFileSync(stateFile, ''); // the walk-through below starts from its own environment
  });

  it('builds, migrates and makes the first API key with the CLI', async () => {
    const result = await bash(steps[0]!, { cwd: root, env, timeoutMs: 180_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /applied: 001_initial\.sql/);
    assert.match(shellVariable('API_KEY') ?? '', /^eco_[0-9a-f]+_[\w-]+$/);
  });

  it('starts the gateway with node dist/main.js and finds it ready', async () => {
    const result = await bash(steps[1]!, { cwd: root, env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(shellVariable('GW'), `http://127.0.0.1:${port}`);
    assert.deepEqual(answer(result.stdout), { status: 200, body: { status: 'ready', postgres: 'ok', broker: 'ok' } });
    // The peer registers us with the URLs the README says to hand it.
    const registered = await api(vn, 'PUT', `/admin/peers/${A}`, { name: 'KR gateway', amqpUrl: ourUrlForPeer, jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, agreements: ['KR-VN-FTA'] });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
  });

  it('registers the agreement', async () => {
    const result = await bash(steps[2]!, { cwd: root, env });
    assert.equal(result.code, 0, result.stderr);
    const { status, body } = answer(result.stdout);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.code, 'KR-VN-FTA');
    assert.deepEqual(body.parties, ['KR', 'VN']);
  });

  it('registers the peer, its keys fetched from its JWKS URL and its broker password hidden', async () => {
    const result = await bash(steps[3]!, { cwd: root, env });
    assert.equal(result.code, 0, result.stderr);
    const { status, body } = answer(result.stdout);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.partyId, B);
    assert.ok(body.jwks.keys.length > 0, 'keys read from the JWKS URL');
    assert.ok(!result.stdout.includes(peerPassword), 'the password is not echoed');
  });

  it('issues a CO: 201, queued for the peer', async () => {
    const result = await bash(steps[4]!, { cwd: root, env });
    assert.equal(result.code, 0, result.stderr);
    const { status, body } = answer(result.stdout);
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.number, shellVariable('NUMBER'));
    assert.equal(body.recipient, B);
    assert.equal(body.delivery.status, 'queued');
  });

  it('looks it up: stored, version 1, valid; then accepted by the peer with a signed receipt', async () => {
    const result = await bash(steps[5]!, { cwd: root, env });
    assert.equal(result.code, 0, result.stderr);
    const { status, body } = answer(result.stdout);
    const number = shellVariable('NUMBER')!;
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.number, number);
    assert.equal(body.version, 1);
    assert.equal(body.status, 'valid');
    assert.equal(body.deliveries.length, 1);
    const headers = { authorization: `Bearer ${shellVariable('API_KEY')}` };
    await eventually(async () => {
      const lookup = (await (await fetch(`http://127.0.0.1:${port}/certificates/${number}`, { headers })).json()) as { deliveries: { status: string }[] };
      return lookup.deliveries[0]!.status === 'accepted' || undefined;
    }, 'the peer to accept the CO');
    const atPeer = await api(vn, 'GET', `/certificates/${number}`);
    assert.equal(atPeer.status, 200);
    assert.equal(atPeer.body.signatureVerified, true);
    assert.equal(atPeer.body.certificate.issuer.partyId, A);
  });
});
