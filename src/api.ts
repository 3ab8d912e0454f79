// Every route of the HTTP API, in one list: the running gateway and the OpenAPI document share it.
import { adminRoutes } from './admin/routes.ts';
import type { AgreementBook } from './agreements/index.ts';
import { authRoutes } from './auth/routes.ts';
import { agreementRoutes } from './agreements/routes.ts';
import { type CertificateService, certificateRoutes } from './certificates/index.ts';
import { clearanceRoutes } from './clearance/routes.ts';
import type { ClearanceService } from './clearance/service.ts';
import type { Db } from './db/index.ts';
import type { DeadLetters } from './deadletters/index.ts';
import { deadLetterRoutes } from './deadletters/routes.ts';
import type { RoutePlugin } from './http/app.ts';
import { healthRoutes, type Readiness } from './http/health.ts';
import type { OwnKeys } from './keys/index.ts';
import type { Metrics } from './metrics/index.ts';
import { keyRoutes } from './keys/routes.ts';
import { outboundRoutes, type RelayWaker } from './outbound/index.ts';
import type { PeerDirectory } from './peers/index.ts';
import type { VerificationService } from './verifications/index.ts';
import { verificationRoutes } from './verifications/routes.ts';
import { peerRoutes } from './peers/routes.ts';

export type ApiDeps = {
  partyId: string;
  db: Db;
  certificates: CertificateService;
  clearance: ClearanceService;
  verifications: VerificationService;
  peers: PeerDirectory;
  agreements: AgreementBook;
  keys: OwnKeys;
  readiness: () => Promise<Readiness>;
  relays: RelayWaker;
  deadLetters: DeadLetters;
  metrics: Metrics;
};

export function apiRoutes(deps: ApiDeps): RoutePlugin[] {
  return [
    (app) => certificateRoutes(app, deps),
    (app) => clearanceRoutes(app, deps),
    (app) => verificationRoutes(app, deps),
    (app) => outboundRoutes(app, deps),
    (app) => peerRoutes(app, deps),
    (app) => authRoutes(app, deps),
    (app) => agreementRoutes(app, deps),
    (app) => keyRoutes(app, deps),
    (app) => healthRoutes(app, deps),
    (app) => deadLetterRoutes(app, deps),
    (app) => adminRoutes(app, deps),
  ];
}
