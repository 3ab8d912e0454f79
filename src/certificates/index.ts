export { CertificateService, type CertificateView, type IssueResult } from './service.ts';
export { certificateRoutes } from './routes.ts';
export { insertCancellation, insertReceived, insertReportedUtilization, refreshReceivedStatuses, type ReceiveOutcome } from './store.ts';
