export { type KnownPeer, type Peer, PeerDirectory, peerInputSchema, redactUrl } from './directory.ts';
export { peerRoutes } from './routes.ts';
