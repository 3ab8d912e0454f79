export { enqueue, deliveriesFor, type Delivery, type DeliveryStatus, type OutboxMessage } from './outbox.ts';
export { Relay, backoffMs, type RelayOptions } from './relay.ts';
