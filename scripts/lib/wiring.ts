// Wires two running gateways together through their admin APIs, as an operator would: the example
// agreements at both, then each as the other's peer (broker URL + JWKS URL). Demo, tests, benchmark.
import { readFileSync } from 'node:fs';

export type Endpoint = { partyId: string; url: string; amqpUrl: string; apiKey?: string };

export const exampleAgreements = JSON.parse(readFileSync(new URL('../../examples/agreements.json', import.meta.url), 'utf8')).agreements as Record<string, object>;

async function put(url: string, apiKey: string | undefined, body: unknown): Promise<any> {
  const headers = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  const response = await fetch(url, { method: 'PUT', headers, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`PUT ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

export async function wire(a: Endpoint, b: Endpoint): Promise<{ peerAtA: any; peerAtB: any }> {
  for (const gateway of [a, b]) {
    for (const [code, agreement] of Object.entries(exampleAgreements)) await put(`${gateway.url}/admin/agreements/${code}`, gateway.apiKey, agreement);
  }
  const register = (at: Endpoint, peer: Endpoint) =>
    put(`${at.url}/admin/peers/${peer.partyId}`, at.apiKey, {
      name: `gateway ${peer.partyId}`,
      amqpUrl: peer.amqpUrl,
      jwksUrl: `${peer.url}/.well-known/jwks.json`,
      agreements: Object.keys(exampleAgreements),
    });
  return { peerAtA: await register(a, b), peerAtB: await register(b, a) };
}
