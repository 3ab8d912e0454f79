// Quick ES256 figures without services (`node --import tsx bench/signing.ts`, N=5000 by default):
// node-jose against the gateway's sign()/verify() and raw node:crypto, the example CO as payload.

import { createPrivateKey, createPublicKey, sign as cs, verify as cv, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import jose from 'node-jose';
import { generateSigningKey, importJwks, type Jwk, sign, verify } from '../src/exchange/jose.ts';

const N = Number(process.env.N ?? 5000);
const body = JSON.parse(readFileSync(new URL('../examples/certificate.json', import.meta.url), 'utf8'));
const payload = { profile: 'eco/1.0', id: crypto.randomUUID(), type: 'certificate.issued', from: 'KR-KCS', to: 'VN-MOIT', sentAt: new Date().toISOString(), body };
const key = await generateSigningKey();
const keys = await importJwks({ keys: [key.toJSON() as Jwk] });
const fields = { alg: 'ES256', kid: key.kid, typ: 'eco+jws' };
const joseSign = async () =>
  String(
    await jose.JWS.createSign({ format: 'compact', fields }, key)
      .update(Buffer.from(JSON.stringify(payload)))
      .final(),
  );
const verifier = jose.JWS.createVerify(keys, { algorithms: ['ES256'] });
const priv = createPrivateKey({ key: key.toJSON(true) as JsonWebKey, format: 'jwk' });
const pub = createPublicKey(priv);
const jws = await sign(payload, key);
const input = Buffer.from(jws.split('.').slice(0, 2).join('.'));
const sig = Buffer.from(jws.split('.')[2]!, 'base64url');
async function time(label: string, op: () => unknown) {
  for (let i = 0; i < 200; i++) await op(); // warm-up: JIT and the KeyObject cache
  const t = performance.now();
  for (let i = 0; i < N; i++) await op();
  const s = (performance.now() - t) / 1000;
  console.log(
    `${label.padEnd(34)} ${Math.round(N / s)
      .toLocaleString('en-US')
      .padStart(7)} /s  (${((s / N) * 1e6).toFixed(0)} µs each)`,
  );
}
console.log(`node ${process.version}, ${N} ops each, payload ${JSON.stringify(payload).length} bytes`);
await time('node-jose sign', joseSign);
await time('node-jose verify', () => verifier.verify(jws));
await time('gateway sign() (new path)', () => sign(payload, key));
await time('gateway verify() (new path)', () => verify(jws, keys, key.kid));
await time('raw node:crypto sign', () => cs('sha256', input, { key: priv, dsaEncoding: 'ieee-p1363' }));
await time('raw node:crypto verify', () => cv('sha256', input, { key: pub, dsaEncoding: 'ieee-p1363' }, sig));
