// Operators' steps on what we send, one service for the routes and the CLI alike.
import { audit } from '../audit/index.ts';
import { type Db, type Queryable, withTransaction } from '../db/index.ts';
import { conflict, notFound } from '../errors.ts';
import type { Peer, PeerDirectory } from '../peers/index.ts';
import { type Delivery, findDelivery, releaseHeld, resurrect } from './outbox.ts';

type Waker = { wake(): void };

/** Sends a dead message again: same id, same bytes, attempts counted afresh; audited. */
export async function resendDead(deps: { db: Db; relays: Waker }, messageId: string, actor: string): Promise<Delivery> {
  const { db, relays } = deps;
  const delivery = await findDelivery(db, messageId);
  if (!delivery) throw notFound(`no message ${messageId} was sent from here`);
  if (delivery.status !== 'dead') throw conflict(`message ${messageId} is ${delivery.status}; only dead messages are resent by hand`);
  await withTransaction(db, async (client) => {
    await resurrect(client, messageId);
    await audit(client, { actor, action: 'message.resent', subject: messageId, data: { peer: delivery.peer, type: delivery.type } });
  });
  relays.wake();
  const { body: _body, receipt: _receipt, ...view } = (await findDelivery(db, messageId))!;
  return view;
}

/**
 * Resumes a suspended peer (audited by the directory); what was held for it is due at once, not
 * after the backoff its failed attempts earned. Undefined when no such peer is registered.
 */
export async function resumePeer(deps: { db: Queryable; peers: PeerDirectory; relays: Waker }, partyId: string, actor: string): Promise<Peer | undefined> {
  const peer = await deps.peers.setStatus(partyId, 'active', actor);
  if (!peer) return undefined;
  await releaseHeld(deps.db, peer.partyId);
  deps.relays.wake();
  return peer;
}
