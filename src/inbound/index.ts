export { Consumer, digestOf, type ConsumerOptions, type Handled } from './consumer.ts';
export { authenticate, validate, rejectionCodes, type MessageError, type RejectionCode } from './checks.ts';
