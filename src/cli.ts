// `npm run eco -- <command>`: operator commands against DATABASE_URL.
//   api-key create --name NAME --roles admin[,issuer,customs]   prints the key, once
//   api-key list | api-key revoke ID
//   peer list | peer suspend PARTY_ID | peer resume PARTY_ID
import { parseArgs } from 'node:util';
import { actors } from './audit/index.ts';
import { createApiKey, listApiClients, revokeApiKey, roleSchema } from './auth/index.ts';
import { createPool, migrate } from './db/index.ts';
import { resumePeer } from './outbound/index.ts';
import { PeerDirectory } from './peers/index.ts';

const usage = `usage: npm run eco -- api-key create --name NAME --roles ROLE[,ROLE]
       npm run eco -- api-key list
       npm run eco -- api-key revoke ID
       npm run eco -- peer list
       npm run eco -- peer suspend PARTY_ID | peer resume PARTY_ID
roles: ${roleSchema.options.join(', ')}; DATABASE_URL names the gateway's database`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, roles: { type: 'string' } } });
const url = process.env.DATABASE_URL ?? fail('DATABASE_URL is not set');
const db = createPool(url, 1);
try {
  await migrate(db);
  const [noun, verb, arg] = positionals;
  if (noun === 'api-key' && verb === 'create') {
    const roles = (values.roles ?? '')
      .split(',')
      .filter(Boolean)
      .map((r) => roleSchema.safeParse(r.trim()));
    if (!values.name || roles.length === 0 || roles.some((r) => !r.success)) fail(usage);
    const { client, key } = await createApiKey(
      db,
      values.name,
      roles.map((r) => r.data!),
      actors.cli,
    );
    console.error(`created API key ${client.id} (${client.name}: ${client.roles.join(', ')}); it is shown once, keep it safe:`);
    console.log(key);
  } else if (noun === 'api-key' && verb === 'list') {
    for (const c of await listApiClients(db)) console.log(`${c.id}  ${c.status.padEnd(7)}  eco_${c.keyPrefix}_…  ${c.roles.join(',').padEnd(22)}  ${c.name}`);
  } else if (noun === 'api-key' && verb === 'revoke' && arg) {
    console.log((await revokeApiKey(db, arg, actors.cli)) ? `revoked ${arg}` : fail(`no active API key ${arg}`));
  } else if (noun === 'peer' && verb === 'list') {
    for (const p of await new PeerDirectory(db).list()) console.log(`${p.partyId.padEnd(16)} ${p.status.padEnd(9)} ${p.amqpUrl}  ${p.agreements.join(',')}`);
  } else if (noun === 'peer' && (verb === 'suspend' || verb === 'resume') && arg) {
    // Running gateways see it within their peer cache's lifetime (5 s).
    const peers = new PeerDirectory(db);
    // Resumed, what was held for it is due now; the relays' next poll sends it (no waking from here).
    const relays = { wake: () => {} };
    const peer = verb === 'resume' ? await resumePeer({ db, peers, relays }, arg, actors.cli) : await peers.setStatus(arg, 'suspended', actors.cli);
    if (!peer) fail(`no peer ${arg} is registered`);
    console.log(`${peer.partyId} is ${peer.status}`);
  } else {
    fail(usage);
  }
} finally {
  await db.end();
}
