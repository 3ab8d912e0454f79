export { resendDead, resumePeer } from './operations.ts';
export {
  type Backlog,
  type Delivery,
  type DeliveryError,
  type DeliveryStatus,
  deliveriesFor,
  findDelivery,
  lastDeliveryErrors,
  listDeliveries,
  type MessageFilter,
  messageSearchSql,
  type OutboxMessage,
  outboundTraffic,
  outboxBacklog,
  outboxSummary,
  type PeerTraffic,
  RESEND_QUIET_SECONDS,
  RESENDS_PER_SECOND_PER_PEER,
  type ReceiptOutcome,
  RelayWaker,
  recordReceipt,
  resendCertificate,
  resendMessages,
  sentLines,
} from './outbox.ts';
export { backoffMs, Relay, type RelayOptions } from './relay.ts';
export { deliverySchema, outboundRoutes } from './routes.ts';
export { Outbound, type OutboxWriter, type Outgoing, type Recipient, type Sent } from './send.ts';
