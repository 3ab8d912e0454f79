export { OwnTrustList, PeerTrustLists, type PeerTrustListView } from './list.ts';
export { type TrustRouteDeps, trustRoutes } from './routes.ts';
export { CheckRecorder, StatusService } from './status.ts';
