// Honest health: /ready says 503 (with Retry-After, and why) while our broker is in a memory
// alarm or Postgres cannot write, and the API answers writes 503 with Retry-After meanwhile
// instead of accepting work it cannot do or failing with 500. Before, /ready said 200 in both
// cases and a write to a read-only database answered 500.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { RabbitServer } from '../../scripts/lib/services.ts';
import type { Gateway } from '../../src/gateway.ts';
import { A, api, eventually, exampleAgreements, exampleCertificate, freshPlace, registerAgreements, services, startTestGateway } from '../support/gateways.ts';

describe('readiness', () => {
  /** A broker of this test's own: its alarm must not block the other tests' gateways. */
  let broker: RabbitServer;
  let gateway: Gateway;
  let databaseUrl: string;

  before(async () => {
    broker = await RabbitServer.start();
    const place = await freshPlace('ready', { postgres: services.postgres, rabbit: broker });
    databaseUrl = place.databaseUrl;
    gateway = await startTestGateway(A, place);
    await registerAgreements(gateway);
  });
  after(async () => {
    await gateway?.stop();
    await broker?.stop();
  });

  /** No peer is registered: a CO would be refused as having no recipient, after the gate. */
  const issue = () => api(gateway, 'POST', '/certificates', exampleCertificate());

  it('reports a broker memory alarm, and refuses writes with 503 and Retry-After until it clears', async () => {
    assert.equal((await api(gateway, 'GET', '/ready')).status, 200);
    await broker.ctl('set_vm_memory_high_watermark', 'absolute', '1');
    try {
      const ready = await eventually(async () => {
        const r = await api(gateway, 'GET', '/ready');
        return r.status === 503 ? r : undefined;
      }, '/ready to see the alarm');
      assert.equal(ready.body.broker, 'alarm');
      assert.equal(ready.body.postgres, 'ok');
      assert.match(ready.body.detail, /blocks publishers: low on memory/);
      assert.equal(ready.headers.get('retry-after'), '5');
      const refused = await issue();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.match(refused.body.detail, /memory or disk alarm/);
      // Reads and operators go on.
      assert.equal((await api(gateway, 'GET', '/admin/overview')).status, 200);
    } finally {
      await broker.ctl('set_vm_memory_high_watermark', '0.4');
    }
    await eventually(async () => ((await api(gateway, 'GET', '/ready')).status === 200 ? true : undefined), '/ready once the alarm cleared');
    assert.notEqual((await issue()).status, 503);
  });

  it('reports a Postgres that cannot write, and answers writes 503 with Retry-After, not 500', async () => {
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const database = (await admin.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
    /** Applies a database setting to the gateway's connections: they are ended, and the pool opens new ones. */
    const reconnectAll = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    try {
      await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`);
      await reconnectAll();
      const ready = await eventually(async () => {
        const r = await api(gateway, 'GET', '/ready');
        return r.status === 503 && r.body.postgres === 'unwritable' ? r : undefined;
      }, '/ready to see the read-only database');
      assert.match(ready.body.detail, /read-only/);
      const refused = await eventually(async () => {
        const r = await api(gateway, 'PUT', '/admin/agreements/KR-VN-FTA', exampleAgreements['KR-VN-FTA']);
        return r.status === 503 ? r : undefined;
      }, 'a write refused as unavailable');
      assert.match(refused.contentType, /problem\+json/);
      assert.match(refused.body.detail, /cannot write now/);
      assert.equal(refused.headers.get('retry-after'), '5');
    } finally {
      await admin.query(`ALTER DATABASE ${database} RESET default_transaction_read_only`);
      await reconnectAll();
      await admin.end();
    }
    // The first write that commits again clears the failure it remembered.
    await eventually(async () => ((await api(gateway, 'PUT', '/admin/agreements/KR-VN-FTA', exampleAgreements['KR-VN-FTA'])).status === 200 ? true : undefined), 'a write to succeed again');
    assert.equal((await api(gateway, 'GET', '/ready')).status, 200);
  });
});
