export { OwnTrustList, PeerTrustLists, type PeerTrustListView } from './list.ts';
export { type TrustRouteDeps, trustRoutes } from './routes.ts';
export { CheckRecorder, checksOf, StatusService, unusualChecks } from './status.ts';
