// The operator CLI (src/cli.ts) as an operator runs it: help without a database, migrations only in
// `migrate`, and `--json` output for every command.
import assert from 'node:assert/strict';
import { execFile as execFileCallback } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Gateway } from '../../src/gateway.ts';
import { A, freshPlace, inject, startTestGateway } from '../support/gateways.ts';

const execFile = promisify(execFileCallback);

/** Runs the CLI to its exit: code, stdout, stderr (never rejects). */
async function eco(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...inherited, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('CLI', () => {
  describe('without a database', () => {
    it('prints its usage on --help and -h, exit 0', async () => {
      for (const flag of ['--help', '-h']) {
        const { code, stdout } = await eco([flag]);
        assert.equal(code, 0);
        for (const command of ['migrate', 'api-key create', 'api-key list', 'api-key revoke', 'peer list', 'peer suspend', 'peer resume'])
          assert.match(stdout, new RegExp(`npm run eco -- ${command}`));
        assert.match(stdout, /--json/);
      }
    });

    it("prints a command's usage on COMMAND --help, and a family's on NOUN --help", async () => {
      const create = await eco(['api-key', 'create', '--help']);
      assert.equal(create.code, 0);
      assert.match(create.stdout, /usage: npm run eco -- api-key create --name NAME --roles ROLE\[,ROLE\]/);
      assert.match(create.stdout, /issuer, customs, admin/);
      const peer = await eco(['peer', '--help']);
      assert.equal(peer.code, 0);
      assert.match(peer.stdout, /peer suspend PARTY_ID/);
      assert.doesNotMatch(peer.stdout, /api-key/);
    });

    it('refuses unknown options and commands with the usage, exit 2, without a stack', async () => {
      for (const args of [['--bogus'], ['bogus'], ['api-key', 'revoke'], []]) {
        const { code, stderr } = await eco(args);
        assert.equal(code, 2, args.join(' '));
        assert.match(stderr, /usage: /);
        assert.doesNotMatch(stderr, /ERR_PARSE_ARGS|\n\s+at /);
      }
    });

    it('says so when the database cannot be reached, in JSON with --json', async () => {
      const { code, stderr } = await eco(['peer', 'list', '--json'], { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/nowhere' });
      assert.equal(code, 1);
      const error = JSON.parse(stderr) as { error: string };
      assert.match(error.error, /the database at postgres:\/\/127\.0\.0\.1:1\/nowhere cannot be reached/);
      assert.doesNotMatch(stderr, /secret/);
    });
  });

  describe('failures in one line', () => {
    /** Runs `npm run migrate`'s entry point to its exit. */
    async function migrateCli(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
      const { DATABASE_URL: _ignored, ...inherited } = process.env;
      return execFile(process.execPath, ['--import', 'tsx', 'src/db/migrate-cli.ts'], { env: { ...inherited, ...env } }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
      );
    }

    it('an unknown user, a missing database, an unreachable server, an id that is not a UUID: exit 1 or 2, one line, no stack', async () => {
      const base = new URL((await freshPlace('cli_failures')).databaseUrl);
      const url = (changes: Partial<Pick<URL, 'username' | 'password' | 'pathname' | 'port'>>) => Object.assign(new URL(base), changes).toString();
      const cases: [string, string, RegExp][] = [
        ['unknown user', url({ username: 'nobody_here', password: 'secret' }), /refused the credentials \(28000\): check the user and password in DATABASE_URL/],
        ['missing database', url({ pathname: '/no_such_database' }), /does not exist \(3D000\)/],
        ['unreachable', url({ port: '1' }), /cannot be reached \(ECONNREFUSED\)/],
      ];
      for (const [label, databaseUrl, expected] of cases) {
        for (const run of [() => eco(['api-key', 'list'], { DATABASE_URL: databaseUrl }), () => eco(['migrate'], { DATABASE_URL: databaseUrl }), () => migrateCli({ DATABASE_URL: databaseUrl })]) {
          const { code, stderr } = await run();
          assert.equal(code, 1, `${label}: ${stderr}`);
          assert.equal(stderr.trim().split('\n').length, 1, `${label}: ${stderr}`);
          assert.match(stderr, expected, label);
          assert.doesNotMatch(stderr, /secret|\bat .+:\d+:\d+/, `${label}: no password, no stack`);
        }
      }
      assert.equal((await eco(['migrate'], { DATABASE_URL: base.toString() })).code, 0);
      const revoked = await eco(['api-key', 'revoke', 'not-a-uuid'], { DATABASE_URL: base.toString() });
      assert.equal(revoked.code, 2, revoked.stderr);
      assert.match(revoked.stderr, /^ID must be an API key's id, a UUID/);
      assert.doesNotMatch(revoked.stderr, /\bat .+:\d+:\d+/);
    });
  });

  describe('migrations', () => {
    let databaseUrl: string;
    before(async () => {
      databaseUrl = (await freshPlace('cli_migrate')).databaseUrl;
    });

    const tables = async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        return (await client.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).rows[0].n as number;
      } finally {
        await client.end();
      }
    };

    it('are applied only by migrate: other commands refuse an unmigrated database and leave it as it is', async () => {
      const listed = await eco(['api-key', 'list'], { DATABASE_URL: databaseUrl });
      assert.equal(listed.code, 1);
      assert.match(listed.stderr, /pending migration\(s\) \(001_initial\.sql…\): run npm run eco -- migrate first/);
      assert.equal(await tables(), 0);
      const migrated = await eco(['migrate', '--json'], { DATABASE_URL: databaseUrl });
      assert.equal(migrated.code, 0, migrated.stderr);
      const { applied } = JSON.parse(migrated.stdout) as { applied: string[] };
      assert.equal(applied[0], '001_initial.sql');
      assert.ok(applied.includes('015_gateway_party.sql'));
      assert.deepEqual(JSON.parse((await eco(['migrate', '--json'], { DATABASE_URL: databaseUrl })).stdout), { applied: [] });
      assert.match((await eco(['migrate'], { DATABASE_URL: databaseUrl })).stdout, /database is up to date/);
      assert.equal((await eco(['api-key', 'list', '--json'], { DATABASE_URL: databaseUrl })).stdout.trim(), '[]');
    });
  });

  describe('--json', () => {
    let gateway: Gateway;
    const json = async (...args: string[]) => {
      const { code, stdout, stderr } = await eco([...args, '--json'], { DATABASE_URL: gateway.config.databaseUrl });
      assert.equal(code, 0, stderr);
      return JSON.parse(stdout);
    };

    before(async () => {
      gateway = await startTestGateway(A, await freshPlace('cli'), { ROLE: 'api' });
      const registered = await inject(gateway, 'PUT', '/admin/peers/VN-MOIT', { name: 'VN', amqpUrl: 'amqp://127.0.0.1:9/', jwks: await gateway.keys.jwks() });
      assert.equal(registered.status, 200);
    });
    after(() => gateway?.stop());

    it('creates, lists and revokes API keys', async () => {
      const created = await json('api-key', 'create', '--name', 'ops', '--roles', 'admin,issuer');
      assert.match(created.key, /^eco_[0-9a-f]{8}_/);
      assert.deepEqual(created.roles, ['admin', 'issuer']);
      assert.equal(created.name, 'ops');
      const listed = (await json('api-key', 'list')) as { id: string; name: string; status: string }[];
      assert.equal(listed.find((c) => c.id === created.id)?.status, 'active');
      assert.ok(!JSON.stringify(listed).includes(created.key), 'the key is never listed');
      assert.deepEqual(await json('api-key', 'revoke', created.id), { id: created.id, status: 'revoked' });
      const again = await eco(['api-key', 'revoke', created.id, '--json'], { DATABASE_URL: gateway.config.databaseUrl });
      assert.equal(again.code, 1);
      assert.deepEqual(JSON.parse(again.stderr), { error: `no active API key ${created.id}` });
    });

    it('lists, suspends and resumes peers', async () => {
      const peers = (await json('peer', 'list')) as { partyId: string; status: string }[];
      assert.equal(peers.find((p) => p.partyId === 'VN-MOIT')?.status, 'active');
      assert.deepEqual(await json('peer', 'suspend', 'VN-MOIT'), { partyId: 'VN-MOIT', status: 'suspended' });
      assert.deepEqual(await json('peer', 'resume', 'VN-MOIT'), { partyId: 'VN-MOIT', status: 'active' });
    });
  });
});
