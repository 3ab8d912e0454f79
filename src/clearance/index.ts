export { claimSchema, type Finding } from './findings.ts';
export { type FlaggedCertificate, flaggedCertificates } from './risk.ts';
export { clearanceRoutes } from './routes.ts';
export { ClearanceService } from './service.ts';
