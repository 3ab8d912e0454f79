export {
  enqueue,
  requeue,
  resendCertificate,
  RelayWaker,
  recordReceipt,
  deliveriesFor,
  findDelivery,
  listDeliveries,
  outboxSummary,
  type Delivery,
  type DeliveryStatus,
  type OutboxMessage,
  type ReceiptOutcome,
} from './outbox.ts';
export { Relay, backoffMs, type RelayOptions } from './relay.ts';
export { outboundRoutes, deliverySchema } from './routes.ts';
