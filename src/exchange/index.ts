// The wire between two gateways (docs/wire.md): envelopes and message bodies, JOSE, receipts and
// rejection codes, AMQP topology and confirmed publishing. A leaf: it imports no business module.
export * from './amqp.ts';
export * from './codes.ts';
export * from './envelope.ts';
export * from './fetch.ts';
export * from './jose.ts';
export * from './messages.ts';
export * from './receipt.ts';
