export { certificateRoutes } from './routes.ts';
export { CertificateService, type CertificateView, type IssueResult } from './service.ts';
export {
  type CurrentReceived,
  currentReceived,
  hasReceived,
  insertCancellation,
  insertReceived,
  insertReportedUtilization,
  lockReceived,
  type ReceiveOutcome,
  receivedVersions,
  refreshReceivedStatuses,
  wasIssuedTo,
} from './store.ts';
