// The production build: `npm run build` compiles src/ to dist/, and the compiled gateway, CLI and
// migrate run with plain node (no tsx) against the services `npm test` started.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GatewayProcess } from '../../scripts/lib/gateway-process.ts';
import { A, freshPlace } from '../support/gateways.ts';

const execFile = promisify(execFileCb);

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
}

describe('production build', () => {
  let place: { databaseUrl: string; amqpUrl: string };
  let gateway: GatewayProcess | undefined;
  // Plain node: no --import tsx inherited through NODE_OPTIONS.
  const env = () => ({ ...process.env, NODE_OPTIONS: '', DATABASE_URL: place.databaseUrl });

  before(async () => {
    await execFile('npm', ['run', 'build'], { timeout: 120_000 });
    place = await freshPlace('build');
  });
  after(async () => {
    await gateway?.stop();
  });

  it('compiles every module to JavaScript with .js imports, and copies what src/ reads at run time', () => {
    for (const entry of ['main.js', 'cli.js', 'db/migrate-cli.js', 'admin/console.html']) assert.ok(existsSync(join('dist', entry)), `dist/${entry}`);
    const stale = jsFiles('dist').filter((file) => /from '\.{1,2}\/[^']+\.ts'|import\('\.{1,2}\/[^']+\.ts'\)|from 'tsx/.test(readFileSync(file, 'utf8')));
    assert.deepEqual(stale, [], 'no import of a .ts file or of tsx is left');
  });

  it('migrates with the compiled migrate entry point (migrations/ found from dist/)', async () => {
    const { stdout } = await execFile(process.execPath, ['dist/db/migrate-cli.js'], { env: env() });
    assert.match(stdout, /^applied: 001_/);
    const again = await execFile(process.execPath, ['dist/db/migrate-cli.js'], { env: env() });
    assert.match(again.stdout, /up to date/);
  });

  it('runs the compiled CLI', async () => {
    await execFile(process.execPath, ['dist/cli.js', 'api-key', 'create', '--name', 'build test', '--roles', 'admin'], { env: env() });
    const { stdout } = await execFile(process.execPath, ['dist/cli.js', 'api-key', 'list'], { env: env() });
    assert.match(stdout, /build test/);
  });

  it('starts the compiled gateway: healthy, ready, serving the console page, and stopping cleanly', async () => {
    gateway = new GatewayProcess('compiled', { PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, NODE_OPTIONS: '' }, { entry: 'compiled' });
    await gateway.start();
    const health = await fetch(`${gateway.url}/health`);
    assert.deepEqual(await health.json(), { status: 'ok', party: A });
    const ready = await fetch(`${gateway.url}/ready`);
    assert.equal(ready.status, 200, gateway.tail());
    const page = await fetch(`${gateway.url}/console`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    await gateway.stop();
    assert.equal(gateway.running, false);
  });

  it("has the image's HEALTHCHECK (dist/healthcheck.js) pass on a ready gateway and fail with the reason on a stopped one", async () => {
    const check = (env: Record<string, string>) =>
      execFile(process.execPath, ['dist/healthcheck.js'], { env: { ...process.env, NODE_OPTIONS: '', HTTP_HOST: '0.0.0.0', ...env } }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
      );
    const ready = new GatewayProcess('compiled-health', { PARTY_ID: A, DATABASE_URL: place.databaseUrl, AMQP_URL: place.amqpUrl, NODE_OPTIONS: '' }, { entry: 'compiled' });
    gateway = ready;
    await ready.start();
    assert.deepEqual(await check({ HTTP_PORT: String(ready.port) }), { code: 0, stderr: '' });
    await ready.stop();
    const down = await check({ HTTP_PORT: String(ready.port) });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /\/ready: /);
    assert.equal((await check({ HTTP_PORT: String(ready.port), ROLE: 'relay,consumer' })).code, 0, 'no API to ask');
  });
});
