export { certificateSchema, certificateNumberSchema, certificateKinds, type Certificate } from './schema.ts';
export { CertificateService, type CertificateView, type IssueResult } from './service.ts';
export { certificateRoutes } from './routes.ts';
export { insertReceived, type ReceiveOutcome } from './store.ts';
