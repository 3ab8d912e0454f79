export { formatNumber, nextNumberPreview, numberingPattern, patternProblem, setNumberingPattern } from './numbering.ts';
export { certificateRoutes } from './routes.ts';
export { type CertificateSearch, calendarDate, certificateSearchSchema, type IssuedSummary, type ReceivedSummary, SEARCH_LIMITS, type SearchPage, searchIssued, searchReceived } from './search.ts';
export { CertificateService, type CertificateView, type IssueResult } from './service.ts';
export {
  type CurrentReceived,
  currentReceived,
  hasReceived,
  insertCancellation,
  insertReceived,
  insertReportedUtilization,
  issuedVersions,
  lockReceived,
  type ReceiveOutcome,
  receivedVersions,
  refreshReceivedStatuses,
  type VersionRow,
  wasIssuedTo,
} from './store.ts';
