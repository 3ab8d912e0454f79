export { authenticate, validate } from './checks.ts';
export { Consumer, type ConsumerOptions, type Handled } from './consumer.ts';
export { findReceived, inboundTraffic, listReceived, type ReceivedMessage, receivedLines } from './inbox.ts';
export { type UnauthenticatedCount, unauthenticatedCounts } from './unauthenticated.ts';
