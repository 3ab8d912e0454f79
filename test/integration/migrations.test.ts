// Migrations that move data: 014 gives each certificate issued here the bytes it was sent as,
// read from the outbox row of its message.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createPool, migrate } from '../../src/db/index.ts';
import { freshPlace } from '../support/gateways.ts';

const migrationsDir = new URL('../../migrations/', import.meta.url);

describe('migration 014: certificates keep their own sent bytes', () => {
  const pools: ReturnType<typeof createPool>[] = [];
  after(() => Promise.all(pools.map((pool) => pool.end())));

  it('backfills jws from the outbox for certificates issued before it', async () => {
    const db = createPool((await freshPlace('migrate')).databaseUrl, 2);
    pools.push(db);
    // The database as it was before 014, as migrate() would have left it.
    await db.query('CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const file of readdirSync(migrationsDir)
      .filter((f) => /^\d+_.+\.sql$/.test(f) && f < '014')
      .sort()) {
      await db.query(readFileSync(new URL(file, migrationsDir), 'utf8'));
      await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
    }
    const messages = [randomUUID(), randomUUID()];
    for (const [version, id] of messages.entries()) {
      await db.query("INSERT INTO outbox (id, peer, type, certificate_number, body) VALUES ($1, 'VN-MOIT', 'certificate.issued', 'KR-M-1', $2)", [id, `signed bytes of version ${version + 1}`]);
      await db.query("INSERT INTO certificates (number, version, kind, importing_party, dataset, message_id) VALUES ('KR-M-1', $1, 'preferential', 'VN-MOIT', '{}', $2)", [version + 1, id]);
    }

    assert.ok((await migrate(db)).includes('014_certificate_jws.sql'));
    const { rows } = await db.query<{ version: number; jws: string }>("SELECT version, jws FROM certificates WHERE number = 'KR-M-1' ORDER BY version");
    assert.deepEqual(rows, [
      { version: 1, jws: 'signed bytes of version 1' },
      { version: 2, jws: 'signed bytes of version 2' },
    ]);
  });
});
