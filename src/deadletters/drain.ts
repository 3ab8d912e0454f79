// Our side of eco.dead: what the consumer cannot answer is published there with the reason in
// headers, and what arrives there (ours, or dead-lettered by the broker) is drained into Postgres,
// where operators list, replay or discard it.
import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { Logger } from 'pino';
import { safeText } from '../dataset/index.ts';
import { type Db, isDatabaseUnavailable } from '../db/index.ts';
import type { DeadLetterCode } from '../exchange/index.ts';
import { DEAD_EXCHANGE } from '../exchange/index.ts';
import { DEAD_ID_HEADER, storeDeadLetter } from './store.ts';

/** For messages no peer can be answered for: onto eco.dead with the reason in headers, confirmed. */
export async function publishDeadLetter(channel: ConfirmChannel, message: ConsumeMessage, error: { code: DeadLetterCode; message: string }): Promise<void> {
  const ours = { 'x-eco-error': error.code, 'x-eco-reason': safeText(error.message, 500), [DEAD_ID_HEADER]: randomUUID() };
  // Not copied: userId (the broker checks it against our own user and would close the channel on
  // a mismatch) and expiration (it would let the letter vanish from eco.dead).
  // Nor what a sender may have set to pass for our own or the broker's dead-lettering marks.
  const { userId: _userId, expiration: _expiration, headers, ...properties } = message.properties;
  const copied = Object.fromEntries(Object.entries(headers ?? {}).filter(([name]) => name !== 'x-death' && !name.startsWith('x-eco-')));
  const publish = (props: Options.Publish) =>
    new Promise<void>((resolve, reject) => {
      try {
        channel.publish(DEAD_EXCHANGE, '', message.content, { ...props, persistent: true }, (err) => (err ? reject(err) : resolve()));
      } catch (encoding) {
        // Thrown before anything was sent: the properties do not encode again.
        reject(new UnencodableCopy(encoding));
      }
    });
  try {
    await publish({ ...properties, headers: { ...copied, ...ours } });
  } catch (failure) {
    // A sender's headers plus ours can exceed amqplib's 64 KiB field table, and a property the
    // broker passed as raw bytes can grow past 255 once decoded: keep ours, and what still fits.
    if (!(failure instanceof UnencodableCopy)) throw failure;
    const fits = (value: unknown) => (typeof value === 'string' && Buffer.byteLength(value) <= 255 ? value : undefined);
    await publish({
      messageId: fits(properties.messageId),
      appId: fits(properties.appId),
      type: fits(properties.type),
      headers: { ...ours, 'x-eco-properties-dropped': 'the original properties could not be copied' },
    });
  }
}

class UnencodableCopy extends Error {
  constructor(cause: unknown) {
    super(`the dead-letter copy cannot be encoded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * Stores one message taken from eco.dead, trying again until it is stored or `stillHeld` says its
 * channel is gone (the broker then redelivers it). True once stored: the caller acks it.
 */
export async function drainDeadLetter(db: Db, message: ConsumeMessage, log: Logger, stillHeld: () => boolean): Promise<boolean> {
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      // Past a few failures that are not an outage, the letter is kept without its properties
      // rather than retried forever.
      await storeDeadLetter(db, message, { minimal: failures > 3 });
      return true;
    } catch (error) {
      if (!isDatabaseUnavailable(error)) failures++;
      log.error({ err: error, attempt }, 'dead letter not stored yet; it stays on eco.dead');
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      if (!stillHeld()) return false;
    }
  }
}
