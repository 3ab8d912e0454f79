export { certificateRoutes } from './routes.ts';
export { CertificateService, type CertificateView, type IssueResult } from './service.ts';
export {
  type CurrentReceived,
  currentReceived,
  hasReceived,
  type IssuedSummary,
  insertCancellation,
  insertReceived,
  insertReportedUtilization,
  issuedVersions,
  listIssued,
  listReceived,
  lockReceived,
  type ReceiveOutcome,
  receivedVersions,
  refreshReceivedStatuses,
  type VersionRow,
  wasIssuedTo,
} from './store.ts';
