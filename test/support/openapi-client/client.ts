// A back-office's code against the client generated from openapi.yaml (openapi-typescript's types,
// openapi-fetch's calls), written as its users would write it. The OpenAPI test generates api.ts
// beside it, type-checks this file against it, then runs it against a real gateway: a document
// that lost a path, a parameter or a schema fails the one or the other.
import createClient from 'openapi-fetch';
import type { components, paths } from './api.ts';

export type Certificate = components['schemas']['Certificate'];
type Status = components['schemas']['CertificateView']['status'];

export type IssueAndLookUp = {
  issued: { status: number; number: string; recipient: string };
  found: { status: number; version: number | null; state: Status; counterparty: string };
  signed: { status: number; contentType: string | null; jws: string };
  missing: { status: number; type: string; requestId: string | undefined };
};

/** Issues a CO, reads it back as JSON and as the signed JWS, and looks up one that does not exist. */
export async function issueAndLookUp(baseUrl: string, apiKey: string, certificate: Certificate): Promise<IssueAndLookUp> {
  // JSON answers and problems: the signed CO (application/jose) is asked for as text below.
  const client = createClient<paths, 'application/json' | 'application/problem+json'>({ baseUrl, headers: { authorization: `Bearer ${apiKey}` } });
  const issued = await client.POST('/certificates', { body: certificate, params: { header: { 'idempotency-key': `issue ${certificate.number}` } } });
  if (!issued.data) throw new Error(`issue: ${issued.response.status} ${JSON.stringify(issued.error)}`);
  const path = { number: issued.data.number };
  const found = await client.GET('/certificates/{number}', { params: { path } });
  if (!found.data) throw new Error(`lookup: ${found.response.status} ${JSON.stringify(found.error)}`);
  const signed = await client.GET('/certificates/{number}', { params: { path }, headers: { accept: 'application/jose' }, parseAs: 'text' });
  const missing = await client.GET('/certificates/{number}', { params: { path: { number: 'NO-SUCH-CO' } } });
  if (!missing.error) throw new Error(`a CO that does not exist was found: ${missing.response.status}`);
  return {
    issued: { status: issued.response.status, number: issued.data.number, recipient: issued.data.recipient },
    found: { status: found.response.status, version: found.data.version, state: found.data.status, counterparty: found.data.counterparty },
    signed: { status: signed.response.status, contentType: signed.response.headers.get('content-type'), jws: signed.data ?? '' },
    missing: { status: missing.response.status, type: missing.error.type, requestId: missing.error.requestId },
  };
}
