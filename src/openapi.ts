// The OpenAPI document, generated from the same zod schemas that validate requests.
import { pino } from 'pino';
import { type ApiDeps, apiRoutes } from './api.ts';
import { installAuth, KeyLookup } from './auth/index.ts';
import { buildApp } from './http/index.ts';

/** Builds the app without services (no route runs) and returns its OpenAPI document as YAML. */
export async function openapiDocument(): Promise<string> {
  const unused = {} as never;
  const deps: ApiDeps = {
    partyId: 'XX-DOC',
    db: unused,
    adminDb: unused,
    certificates: unused,
    clearance: unused,
    verifications: unused,
    peers: unused,
    agreements: unused,
    keys: unused,
    readiness: unused,
    relays: unused,
    deadLetters: unused,
    reconciliations: unused,
    metrics: unused,
    copies: unused,
    trust: unused,
  };
  const app = await buildApp({ logger: pino({ level: 'silent' }), partyId: deps.partyId, auth: (app, limits) => installAuth(app, new KeyLookup(deps.db), limits), routes: apiRoutes(deps) });
  await app.ready();
  const yaml = app.swagger({ yaml: true });
  await app.close();
  return yaml;
}
