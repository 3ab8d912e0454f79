// `npm run eco -- <command>`: operator commands against DATABASE_URL. `--help` (overall or per
// command) needs no database; only `migrate` changes the schema; `--json` prints one JSON value.
// `verify` (the offline seal verifier) needs no database at all: seals/cli.ts.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { actors } from './audit/index.ts';
import { createApiKey, listApiClients, revokeApiKey, roleSchema } from './auth/index.ts';
import { createPool, type Db, databaseProblem, MigrationError, migrate, pendingMigrations, redactUrl } from './db/index.ts';
import { EcoError } from './errors.ts';
import { resumePeer } from './outbound/index.ts';
import { PeerDirectory } from './peers/index.ts';
import { createUser, listUsers, PASSWORD_MAX, PASSWORD_MIN, userRoles } from './portal/index.ts';
import { runVerify } from './seals/index.ts';

if (process.argv[2] === 'verify') process.exit(await runVerify(process.argv.slice(3)));

type Command = {
  /** The words naming it, e.g. ['api-key', 'create']. */
  words: string[];
  /** Its arguments and options, after the words. */
  synopsis: string;
  summary: string;
  /** Takes one positional argument (an id). */
  argument?: string;
  run: (db: Db, input: { arg?: string; name?: string; roles?: string; rateLimit?: string; displayName?: string }) => Promise<{ json: unknown; text: string }>;
};

/** A refusal of the command as given: a message, exit code 2. */
class UsageError extends Error {}
/** The command ran and failed (nothing to revoke, say): a message, exit code 1. */
class CommandError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PASSWORD_MIN_TEXT = `${PASSWORD_MIN}-${PASSWORD_MAX} characters`;

const commands: Command[] = [
  {
    words: ['migrate'],
    synopsis: '',
    summary: 'apply pending database migrations (no other command changes the schema)',
    run: async (db) => {
      const applied = await migrate(db);
      return { json: { applied }, text: applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date' };
    },
  },
  {
    words: ['api-key', 'create'],
    synopsis: '--name NAME --roles ROLE[,ROLE] [--rate-limit REQUESTS_PER_MINUTE]',
    summary: `create an API key and print it, once (roles: ${roleSchema.options.join(', ')})`,
    run: async (db, { name, roles: list, rateLimit }) => {
      const roles = (list ?? '')
        .split(',')
        .filter(Boolean)
        .map((r) => roleSchema.safeParse(r.trim()));
      if (!name) throw new UsageError('--name is required');
      if (roles.length === 0 || roles.some((r) => !r.success)) throw new UsageError(`--roles must list one or more of ${roleSchema.options.join(', ')}`);
      // Its own REST rate limit (a busy customs system); without it, RATE_LIMIT_PER_MINUTE.
      const rateLimitPerMinute = rateLimit === undefined ? undefined : Number(rateLimit);
      if (rateLimitPerMinute !== undefined && !(Number.isInteger(rateLimitPerMinute) && rateLimitPerMinute >= 1 && rateLimitPerMinute <= 10_000_000)) {
        throw new UsageError('--rate-limit is requests a minute, 1 to 10000000');
      }
      const { client, key } = await createApiKey(
        db,
        name,
        roles.map((r) => r.data!),
        actors.cli,
        { rateLimitPerMinute },
      );
      console.error(`created API key ${client.id} (${client.name}: ${client.roles.join(', ')}); it is shown once, keep it safe:`);
      return { json: { id: client.id, name: client.name, roles: client.roles, rateLimitPerMinute: client.rateLimitPerMinute, key }, text: key };
    },
  },
  {
    words: ['api-key', 'list'],
    synopsis: '',
    summary: 'list API keys (never the keys themselves)',
    run: async (db) => {
      const clients = await listApiClients(db);
      return {
        json: clients,
        text: clients
          .map((c) => `${c.id}  ${c.status.padEnd(7)}  eco_${c.keyPrefix}_…  ${c.roles.join(',').padEnd(22)}  ${c.name}${c.rateLimitPerMinute ? `  (${c.rateLimitPerMinute}/min)` : ''}`)
          .join('\n'),
      };
    },
  },
  {
    words: ['api-key', 'revoke'],
    synopsis: 'ID',
    argument: 'ID',
    summary: 'revoke an API key: it is refused from then on',
    run: async (db, { arg }) => {
      if (!UUID.test(arg!)) throw new UsageError(`ID must be an API key's id, a UUID (npm run eco -- api-key list shows them): ${JSON.stringify(arg).slice(0, 80)}`);
      if (!(await revokeApiKey(db, arg!, actors.cli))) throw new CommandError(`no active API key ${arg}`);
      return { json: { id: arg, status: 'revoked' }, text: `revoked ${arg}` };
    },
  },
  {
    words: ['user', 'create'],
    synopsis: '--name USERNAME --roles ROLE[,ROLE] [--display-name NAME]',
    summary: `create a web portal (/portal) user (roles: ${userRoles.join(', ')}); the password is ECO_USER_PASSWORD (${PASSWORD_MIN_TEXT}) or, without it, a random one printed once`,
    run: async (db, { name, roles: list, displayName }) => {
      if (!name) throw new UsageError('--name is required (3-64 characters of a-z 0-9 . _ -)');
      const roles = (list ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      if (roles.length === 0 || roles.some((r) => !(userRoles as readonly string[]).includes(r))) throw new UsageError(`--roles must list one or more of ${userRoles.join(', ')}`);
      const given = process.env.ECO_USER_PASSWORD;
      const password = given ?? randomBytes(15).toString('base64url');
      try {
        const user = await createUser(db, { username: name, displayName: displayName ?? name, roles: roles as (typeof userRoles)[number][], password }, actors.cli);
        if (given) return { json: { id: user.id, username: user.username, roles: user.roles }, text: `created portal user ${user.username} (${user.roles.join(', ')})` };
        console.error(`created portal user ${user.username} (${user.roles.join(', ')}); its password is shown once, keep it safe:`);
        return { json: { id: user.id, username: user.username, roles: user.roles, password }, text: password };
      } catch (error) {
        if (error instanceof EcoError) throw new UsageError([error.detail, ...(error.errors ?? []).map((e) => `${e.pointer.slice(1)} ${e.detail}`)].join(': '));
        throw error;
      }
    },
  },
  {
    words: ['user', 'list'],
    synopsis: '',
    summary: 'list web portal users (never their passwords)',
    run: async (db) => {
      const users = await listUsers(db);
      return { json: users, text: users.map((u) => `${u.username.padEnd(24)} ${u.status.padEnd(8)} ${u.roles.join(',').padEnd(22)} ${u.displayName}`).join('\n') };
    },
  },
  {
    words: ['peer', 'list'],
    synopsis: '',
    summary: 'list registered peers',
    run: async (db) => {
      const peers = await new PeerDirectory(db).list();
      return { json: peers, text: peers.map((p) => `${p.partyId.padEnd(16)} ${p.status.padEnd(9)} ${p.amqpUrl}  ${p.agreements.join(',')}`).join('\n') };
    },
  },
  ...(['suspend', 'resume'] as const).map(
    (verb): Command => ({
      words: ['peer', verb],
      synopsis: 'PARTY_ID',
      argument: 'PARTY_ID',
      summary: verb === 'suspend' ? 'hold what is sent to a peer until it is resumed' : 'resume a suspended peer: what was held for it is sent',
      run: async (db, { arg }) => {
        // Running gateways see it within their peer cache's lifetime (5 s).
        const peers = new PeerDirectory(db);
        // Resumed, what was held for it is due now; the relays' next poll sends it (no waking from here).
        const relays = { wake: () => {} };
        const peer = verb === 'resume' ? await resumePeer({ db, peers, relays }, arg!, actors.cli) : await peers.setStatus(arg!, 'suspended', actors.cli);
        if (!peer) throw new CommandError(`no peer ${arg} is registered`);
        return { json: { partyId: peer.partyId, status: peer.status }, text: `${peer.partyId} is ${peer.status}` };
      },
    }),
  ),
];

const line = (c: Command) => `npm run eco -- ${[...c.words, c.synopsis].filter(Boolean).join(' ')}`;
const usage = `usage: ${commands.map(line).join('\n       ')}
       npm run eco -- verify <copy.pdf | image.png | seal text> [--trust FILE|URL] [--pin THUMBPRINT] (needs no database; verify --help)

options: --json  print the result as JSON; --help  this text, or a command's (npm run eco -- api-key create --help)
DATABASE_URL names the gateway's database; every command but migrate expects it migrated
exit codes: 0 done; 1 failed (one line on stderr says why); 2 the command as given is refused (usage)`;
const commandUsage = (c: Command) => `usage: ${line(c)}\n\n${c.summary}\n\noptions: --json  print the result as JSON`;

let json = process.argv.includes('--json');

function finish(code: number, message: string): never {
  if (json) console.error(JSON.stringify({ error: message }));
  else console.error(message);
  process.exit(code);
}

let parsed: ReturnType<
  typeof parseArgs<{
    allowPositionals: true;
    options: {
      name: { type: 'string' };
      roles: { type: 'string' };
      'rate-limit': { type: 'string' };
      'display-name': { type: 'string' };
      json: { type: 'boolean' };
      help: { type: 'boolean'; short: 'h' };
    };
  }>
>;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      roles: { type: 'string' },
      'rate-limit': { type: 'string' },
      'display-name': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (error) {
  finish(2, `${(error as Error).message}\n\n${usage}`);
}
const { positionals, values } = parsed;
json = values.json ?? false;

if (positionals.length === 0 || positionals[0] === 'help') {
  if (values.help || positionals[0] === 'help') {
    console.log(usage);
    process.exit(0);
  }
  finish(2, usage);
}
const command = commands.find((c) => c.words.every((word, i) => positionals[i] === word));
if (!command) {
  const family = commands.filter((c) => c.words[0] === positionals[0]);
  if (values.help && family.length > 0) {
    console.log(`usage: ${family.map(line).join('\n       ')}`);
    process.exit(0);
  }
  finish(2, `unknown command: ${positionals.join(' ')}\n\n${usage}`);
}
if (values.help) {
  console.log(commandUsage(command));
  process.exit(0);
}
const extra = positionals.slice(command.words.length);
if (extra.length !== (command.argument ? 1 : 0)) finish(2, `${command.argument ? `${command.argument} is required, alone` : 'no arguments are taken'}\n\n${commandUsage(command)}`);

const url = process.env.DATABASE_URL;
if (!url) finish(2, 'DATABASE_URL is not set: it names the gateway database');
const db = createPool(url, 1, { warn: () => {} });
let code = 0;
try {
  if (command.words[0] !== 'migrate') {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) throw new CommandError(`the database at ${redactUrl(url)} has ${pending.length} pending migration(s) (${pending[0]}…): run npm run eco -- migrate first`);
  }
  const result = await command.run(db, { arg: extra[0], name: values.name, roles: values.roles, rateLimit: values['rate-limit'], displayName: values['display-name'] });
  if (json) console.log(JSON.stringify(result.json, null, 2));
  else if (result.text) console.log(result.text);
} catch (error) {
  code = error instanceof UsageError ? 2 : 1;
  // Always one line (no stack): what failed and, where it can be told, what to fix.
  const message =
    error instanceof UsageError
      ? `${error.message}\n\n${commandUsage(command)}`
      : error instanceof CommandError || error instanceof MigrationError
        ? error.message
        : (databaseProblem(error, url) ?? `${command.words.join(' ')} failed: ${String((error as Error)?.message ?? error).replace(/\s+/g, ' ')}`);
  if (json) console.error(JSON.stringify({ error: message }));
  else console.error(message);
} finally {
  await db.end().catch(() => {});
}
process.exit(code);
