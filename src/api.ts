// Every route of the HTTP API, in one list: the running gateway and the OpenAPI document share it.
import { adminRoutes } from './admin/index.ts';
import { type AgreementBook, agreementRoutes } from './agreements/index.ts';
import { authRoutes } from './auth/index.ts';
import { type CertificateService, certificateRoutes } from './certificates/index.ts';
import { type ClearanceService, clearanceRoutes } from './clearance/index.ts';
import type { Db } from './db/index.ts';
import { type DeadLetters, deadLetterRoutes } from './deadletters/index.ts';
import { healthRoutes, type Readiness, type RoutePlugin } from './http/index.ts';
import { keyRoutes, type OwnKeys } from './keys/index.ts';
import type { Metrics } from './metrics/index.ts';
import { outboundRoutes, type RelayWaker, resumePeer } from './outbound/index.ts';
import { type PeerDirectory, peerRoutes } from './peers/index.ts';
import type { Copies } from './printing/index.ts';
import { type Reconciliations, reconciliationRoutes } from './reconciliation/index.ts';
import { type TrustRouteDeps, trustRoutes } from './trust/index.ts';
import { type VerificationService, verificationRoutes } from './verifications/index.ts';

export type ApiDeps = {
  partyId: string;
  db: Db;
  /** The operators' reads (search, audit, overview): a small pool of their own with a statement timeout. */
  adminDb: Db;
  certificates: CertificateService;
  clearance: ClearanceService;
  verifications: VerificationService;
  peers: PeerDirectory;
  agreements: AgreementBook;
  keys: OwnKeys;
  readiness: { check(): Promise<Readiness> };
  relays: RelayWaker;
  deadLetters: DeadLetters;
  reconciliations: Reconciliations;
  metrics: Metrics;
  copies: Copies;
  /** Trust lists, the status service and the /verify page (PROFILE 1.2). */
  trust: Omit<TrustRouteDeps, 'partyId' | 'db'>;
};

export function apiRoutes(deps: ApiDeps): RoutePlugin[] {
  return [
    (app) => certificateRoutes(app, deps),
    (app) => clearanceRoutes(app, deps),
    (app) => verificationRoutes(app, deps),
    (app) => outboundRoutes(app, deps),
    (app) => peerRoutes(app, { peers: deps.peers, resumePeer: (partyId, actor) => resumePeer(deps, partyId, actor) }),
    (app) => authRoutes(app, deps),
    (app) => agreementRoutes(app, deps),
    (app) => keyRoutes(app, deps),
    (app) => healthRoutes(app, deps),
    (app) => deadLetterRoutes(app, deps),
    (app) => reconciliationRoutes(app, deps),
    (app) => trustRoutes(app, { ...deps.trust, partyId: deps.partyId, db: deps.db }),
    (app) => adminRoutes(app, { ...deps, db: deps.adminDb }),
  ];
}
