// The raw cost of each step a CO needs, measured on this machine in the same run as the
// end-to-end figures: signing and verifying, a confirmed publish, a Postgres commit.

import { sign as cryptoSign, verify as cryptoVerify, generateKeyPairSync } from 'node:crypto';
import amqp from 'amqplib';
import jose from 'node-jose';
import pg from 'pg';
import { sign as gatewaySign, verify as gatewayVerify, generateSigningKey, importJwks, JWS_TYP, type Jwk } from '../src/exchange/jose.ts';

/** Operations per second of `op`, run back to back for `ms`. */
async function rate(op: () => unknown, ms = 1500): Promise<number> {
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < ms) {
    await op();
    n++;
  }
  return n / ((performance.now() - started) / 1000);
}

export type SigningRates = {
  /** Raw node:crypto, a KeyObject made once: the floor. */
  cryptoSign: number;
  cryptoVerify: number;
  /** node-jose's JWS.createSign / createVerify, as the gateway used before. */
  nodeJoseSign: number;
  nodeJoseVerify: number;
  /** The gateway's own sign() / verify(), the path production uses: what the design limit counts. */
  gatewaySign: number;
  gatewayVerify: number;
};

export async function signingRates(payload: object): Promise<SigningRates> {
  const data = Buffer.from(JSON.stringify(payload));
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signature = cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const key = await generateSigningKey();
  const keys = await importJwks({ keys: [key.toJSON() as Jwk] });
  const jws = await gatewaySign(payload, key);
  const fields = { alg: 'ES256', kid: key.kid, typ: JWS_TYP };
  const nodeJoseSign = async () =>
    String(
      await jose.JWS.createSign({ format: 'compact', fields }, key)
        .update(Buffer.from(JSON.stringify(payload)))
        .final(),
    );
  const nodeJoseVerifier = jose.JWS.createVerify(keys, { algorithms: ['ES256'] });
  // The two paths must agree, or the comparison would be between different work.
  if (!(await gatewayVerify(await nodeJoseSign(), keys, key.kid))) throw new Error('the gateway does not verify what node-jose signs');
  await nodeJoseVerifier.verify(jws);
  return {
    cryptoSign: await rate(() => cryptoSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    cryptoVerify: await rate(() => cryptoVerify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)),
    nodeJoseSign: await rate(nodeJoseSign),
    nodeJoseVerify: await rate(() => nodeJoseVerifier.verify(jws)),
    gatewaySign: await rate(() => gatewaySign(payload, key)),
    gatewayVerify: await rate(() => gatewayVerify(jws, keys, key.kid)),
  };
}

/** Confirmed persistent publishes per second to a quorum queue, `outstanding` unconfirmed at a time. */
export async function publishRate(amqpUrl: string, bodyBytes: number, total = 20_000, outstanding = 100): Promise<number> {
  const connection = await amqp.connect(amqpUrl, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  const queue = `bench.raw.${process.pid}`;
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const body = Buffer.alloc(bodyBytes, 'x');
  const started = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent++;
      await new Promise<void>((resolve, reject) => channel.sendToQueue(queue, body, { persistent: true }, (err) => (err ? reject(err) : resolve())));
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
  const perSecond = total / ((performance.now() - started) / 1000);
  await channel.deleteQueue(queue);
  await connection.close();
  return perSecond;
}

/** One-row commits per second with `clients` connections committing concurrently. */
export async function commitRate(databaseUrl: string, clients = 8, ms = 3000): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, body text NOT NULL)');
  const body = 'x'.repeat(3000);
  let n = 0;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() - started < ms) {
      await pool.query('INSERT INTO bench_commit (body) VALUES ($1)', [body]);
      n++;
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const perSecond = n / ((performance.now() - started) / 1000);
  await pool.query('DROP TABLE bench_commit');
  await pool.end();
  return perSecond;
}

/**
 * Statements per second, the whole machine, `clients` connections: a prepared single-row INSERT
 * like commitRate's, but 50 to a transaction, so that it is the statement's round trip and work
 * without the commit.
 */
export async function statementRate(databaseUrl: string, clients = 8, ms = 3000): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_statement (id bigserial PRIMARY KEY, body text NOT NULL)');
  const body = 'x'.repeat(3000);
  let n = 0;
  const started = performance.now();
  const worker = async () => {
    const client = await pool.connect();
    try {
      while (performance.now() - started < ms) {
        await client.query('BEGIN');
        for (let i = 0; i < 50; i++) {
          await client.query({ name: 'bench-statement', text: 'INSERT INTO bench_statement (body) VALUES ($1)', values: [body] });
          n++;
        }
        await client.query('COMMIT');
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const perSecond = n / ((performance.now() - started) / 1000);
  await pool.query('DROP TABLE bench_statement');
  await pool.end();
  return perSecond;
}
