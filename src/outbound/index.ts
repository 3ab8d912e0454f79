export {
  resendCertificate,
  RelayWaker,
  recordReceipt,
  deliveriesFor,
  findDelivery,
  listDeliveries,
  messageSearchSql,
  outboxSummary,
  outboxBacklog,
  type Backlog,
  outboundTraffic,
  type PeerTraffic,
  type Delivery,
  type DeliveryStatus,
  type MessageFilter,
  type OutboxMessage,
  type ReceiptOutcome,
} from './outbox.ts';
export { Relay, backoffMs, type RelayOptions } from './relay.ts';
export { Outbound, type Outgoing, type OutboxWriter, type Recipient, type Sent } from './send.ts';
export { resendDead, resumePeer } from './operations.ts';
export { outboundRoutes, deliverySchema } from './routes.ts';
