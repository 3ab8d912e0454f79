// What the operator console shows: each peer's health and traffic, the backlog, dead letters
// waiting for a decision, and the latest messages and rejections.
import type { Queryable } from '../db/index.ts';
import type { DeadLetter, DeadLetters } from '../deadletters/index.ts';
import { inboundTraffic, unauthenticatedCounts } from '../inbound/index.ts';
import { type Backlog, type DeliveryError, type DeliveryStatus, lastDeliveryErrors, outboundTraffic, outboxBacklog } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';
import { unusualChecks } from '../trust/index.ts';
import { type MessageRecord, searchMessages } from './messages.ts';

const WINDOW_SECONDS = 24 * 3600;

export type PeerHealth = 'ok' | 'retrying' | 'failing' | 'suspended';
export type PeerOverview = {
  partyId: string;
  name: string;
  status: 'active' | 'suspended';
  health: PeerHealth;
  lastSentAt: string | null;
  lastReceivedAt: string | null;
  sent: Record<DeliveryStatus, number>;
  received: { accepted: number; rejected: number };
  /** The latest delivery error of a message to it still retrying or dead: the reason for its health. */
  lastError: DeliveryError | null;
};
/** Something an operator should look into, in words, with the figures behind it. */
export type Notice =
  | { kind: 'unauthenticated'; peer: string; text: string; answered: number; unanswered: number; lastAt: string; lastCode: string }
  | { kind: 'final-status-checked'; number: string; version: number; answered: string; checks: number; origins: number; lastAt: string; text: string };
export type Overview = {
  partyId: string;
  notices: Notice[];
  windowSeconds: number;
  peers: PeerOverview[];
  backlog: Backlog;
  deadLetters: DeadLetter[];
  recentMessages: MessageRecord[];
  recentRejections: MessageRecord[];
};

export async function overview(db: Queryable, partyId: string, peers: PeerDirectory, deadLetters: DeadLetters): Promise<Overview> {
  const [registered, outbound, inbound, backlog, held, recentMessages, outRejected, inRejected, unauthenticated, checks] = await Promise.all([
    peers.list(),
    outboundTraffic(db, WINDOW_SECONDS),
    inboundTraffic(db, WINDOW_SECONDS),
    outboxBacklog(db),
    deadLetters.list({ status: 'held', limit: 20 }),
    searchMessages(db, { limit: 20 }),
    searchMessages(db, { direction: 'outbound', status: 'rejected', limit: 10 }),
    searchMessages(db, { direction: 'inbound', status: 'rejected', limit: 10 }),
    unauthenticatedCounts(db, WINDOW_SECONDS),
    unusualChecks(db, 1),
  ]);
  const errors = await lastDeliveryErrors(
    db,
    registered.map((peer) => peer.partyId),
  );
  const empty = { queued: 0, sent: 0, accepted: 0, rejected: 0, dead: 0 };
  return {
    partyId,
    notices: [
      ...unauthenticated.map(
        (u): Notice => ({
          kind: 'unauthenticated',
          ...u,
          text: `${u.answered + u.unanswered} messages claiming to be from ${u.peer} failed authentication in the last 24 hours (last: ${u.lastCode}); ${u.answered} answered to ${u.peer}, ${u.unanswered} dead-lettered unanswered. Someone may be using its name, or its keys have changed.`,
        }),
      ),
      // A printed copy still shown after its certificate was withdrawn: fraud, or paper nobody recalled.
      ...checks.finalStatusChecks.slice(0, 5).map(
        (c): Notice => ({
          kind: 'final-status-checked',
          ...c,
          text: `certificate ${c.number} version ${c.version} was checked ${c.checks} times from ${c.origins} places since yesterday, although it is ${c.answered}: a copy of it is still being presented.`,
        }),
      ),
    ],
    windowSeconds: WINDOW_SECONDS,
    peers: registered.map((peer) => {
      const out = outbound.find((t) => t.peer === peer.partyId);
      const into = inbound.find((t) => t.peer === peer.partyId);
      const sent = out?.counts ?? empty;
      const health: PeerHealth = peer.status === 'suspended' ? 'suspended' : sent.dead > 0 ? 'failing' : (out?.retrying ?? 0) > 0 ? 'retrying' : 'ok';
      return {
        partyId: peer.partyId,
        name: peer.name,
        status: peer.status,
        health,
        lastSentAt: out?.lastAt ?? null,
        lastReceivedAt: into?.lastAt ?? null,
        sent,
        received: { accepted: into?.accepted ?? 0, rejected: into?.rejected ?? 0 },
        lastError: errors.get(peer.partyId) ?? null,
      };
    }),
    backlog,
    deadLetters: held,
    recentMessages,
    recentRejections: [...outRejected, ...inRejected].sort((x, y) => y.at.localeCompare(x.at)).slice(0, 10),
  };
}
