// `node --import tsx bench/lookup-prof.ts DIR`: gateway B under --cpu-prof while it answers GET /certificates/{number}
// (8 in flight, 10 s, 20,000 received COs seeded by SQL); the .cpuprofile lands in DIR (open it in Chrome DevTools).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort, startServices } from '../scripts/lib/services.ts';
import { createApiKey } from '../src/auth/index.ts';

const dir = process.argv[2]!;
const services = await startServices();
try {
  const admin = new pg.Client({ connectionString: services.postgres.url() });
  await admin.connect();
  await admin.query('CREATE DATABASE prof');
  await admin.end();
  await services.rabbit.addVhost('prof');
  const url = services.postgres.url('prof');
  const port = await freePort();
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      PARTY_ID: 'VN-MOIT',
      DATABASE_URL: url,
      AMQP_URL: services.rabbit.url('prof'),
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      RATE_LIMIT_PER_MINUTE: '100000000',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000000',
    },
    stdio: 'inherit',
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (i > 120) throw new Error('gateway not up');
    const up = await fetch(`${base}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const headers = { authorization: `Bearer ${(await createApiKey(db, 'prof', ['customs'])).key}` };
  await db.query(
    `INSERT INTO inbox (message_id, from_party, type, digest, body, status) SELECT gen_random_uuid(), 'KR-KCS', 'certificate.issued', 'd', 'b', 'accepted' FROM generate_series(1, 20000)`,
  );
  const dataset = JSON.stringify({ number: 'x', items: Array.from({ length: 5 }, (_, i) => ({ itemNumber: i + 1, description: 'goods '.repeat(20) })) });
  await db.query(
    `INSERT INTO received_certificates (issuer_party, number, version, kind, dataset, jws, message_id) SELECT 'KR-KCS', 'N' || row_number() over (), 1, 'x', $1, repeat('j', 4000), message_id FROM inbox`,
    [dataset],
  );
  await db.query('ANALYZE');
  await db.end();
  const end = performance.now() + 10_000;
  let n = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        const r = await fetch(`${base}/certificates/N${1 + Math.floor(Math.random() * 20000)}`, { headers });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(String(r.status));
        n++;
      }
    }),
  );
  console.log(`${n} lookups in 10 s: ${n / 10}/s`);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
} finally {
  await services.stop();
}
