// The web portal (/portal): server-rendered pages for authorities without a back-office, on the
// same services as the REST API. A route plugin like the API's, added by gateway.ts.
import type { FastifyInstance } from 'fastify';
import type { AgreementBook } from '../agreements/index.ts';
import type { CertificateService } from '../certificates/index.ts';
import type { ClearanceService } from '../clearance/index.ts';
import type { Db } from '../db/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import type { Copies } from '../printing/index.ts';
import type { VerificationService } from '../verifications/index.ts';
import type { SessionLimits } from './accounts.ts';
import { accountPages } from './pages-account.ts';
import { adminPages } from './pages-admin.ts';
import { customsPages } from './pages-customs.ts';
import { formPages } from './pages-form.ts';
import { issuerPages } from './pages-issuer.ts';
import { installPortal } from './plugin.ts';

export { createUser, listUsers, PASSWORD_MAX, PASSWORD_MIN, type User, type UserRole, userRoles } from './accounts.ts';
export { catalogue, langs } from './messages.ts';
export { CONTENT_SECURITY_POLICY, PREFIX as PORTAL_PREFIX } from './plugin.ts';

export type PortalDeps = {
  db: Db;
  partyId: string;
  certificates: CertificateService;
  clearance: ClearanceService;
  verifications: VerificationService;
  peers: PeerDirectory;
  agreements: AgreementBook;
  /** Printable copies (PDF) of issued and received certificates. */
  copies: Copies;
  /** KEY_ENCRYPTION_KEY: the CSRF key is derived from it, the same in every process. */
  secret: Buffer;
  sessionLimits?: SessionLimits;
};

export async function portalRoutes(app: FastifyInstance, deps: PortalDeps): Promise<void> {
  const portal = await installPortal(app, deps.db, { secret: deps.secret, sessionLimits: deps.sessionLimits });
  accountPages(app, portal, deps);
  issuerPages(app, portal, deps);
  formPages(app, portal, deps);
  adminPages(app, portal, deps);
  customsPages(app, portal, deps);
}
