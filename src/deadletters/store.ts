// Messages our consumer could not answer (PROFILE: dead-lettered to eco.dead with x-eco-error).
// The consumer drains eco.dead into this table so that operators can list, inspect, replay
// (back onto our eco.inbound, as it came) or discard them; each of those steps is audited.
import { createHash } from 'node:crypto';
import type { ConsumeMessage, MessageProperties } from 'amqplib';
import { audit, audited } from '../audit/index.ts';
import { safeJson, safeText } from '../dataset/index.ts';
import { type Db, type Queryable, withTransaction } from '../db/index.ts';
import { conflict } from '../errors.ts';
import { ConfirmPublisher, connect, decodeUnverified, INBOUND_EXCHANGE, type WarnLog } from '../exchange/index.ts';

/** Set by our consumer on what it dead-letters, so that draining the same message twice stores it once. */
export const DEAD_ID_HEADER = 'x-eco-dead-id';

export type DeadLetterStatus = 'held' | 'replayed' | 'discarded';
export type DeadLetter = {
  id: string;
  receivedAt: string;
  code: string;
  reason: string | null;
  appId: string | null;
  messageId: string | null;
  type: string | null;
  size: number;
  status: DeadLetterStatus;
  handledAt: string | null;
  handledBy: string | null;
};
export type DeadLetterDetail = DeadLetter & { properties: Record<string, unknown>; body: string; decoded: { header: unknown; payload: unknown } | null };

type Row = {
  id: string;
  received_at: Date;
  code: string;
  reason: string | null;
  app_id: string | null;
  message_id: string | null;
  properties: Partial<MessageProperties>;
  body: Buffer;
  status: DeadLetterStatus;
  handled_at: Date | null;
  handled_by: string | null;
};

const toDeadLetter = (r: Row): DeadLetter => ({
  id: r.id,
  receivedAt: r.received_at.toISOString(),
  code: r.code,
  reason: r.reason,
  appId: r.app_id,
  messageId: r.message_id,
  type: typeof r.properties.type === 'string' ? r.properties.type : null,
  size: r.body.length,
  status: r.status,
  handledAt: r.handled_at?.toISOString() ?? null,
  handledBy: r.handled_by,
});

// Anything may arrive in properties and headers: kept only as text Postgres can store.
const text = (value: unknown, max = 1000) => (typeof value === 'string' || typeof value === 'number' ? safeText(String(value), max) : null);

/** Our own x-eco-* headers count only on what we published to eco.dead ourselves, not on what the broker dead-lettered (a sender may set them). */
const ours = (message: ConsumeMessage) => !message.properties.headers?.['x-death'];

function deadLetterId(message: ConsumeMessage): string {
  const given = ours(message) ? text(message.properties.headers?.[DEAD_ID_HEADER]) : null;
  if (given && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(given)) return given;
  // Dead-lettered by the broker itself (no id of ours): derive one from what cannot change.
  const hex = createHash('sha256')
    .update(message.content)
    .update(JSON.stringify(safeJson(message.properties.headers?.['x-death'] ?? null)))
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Keeps one message taken from eco.dead, with its audit entry; a copy drained again is ignored.
 * `minimal` keeps it without its properties, for a letter whose full form could not be stored.
 */
export async function storeDeadLetter(db: Db, message: ConsumeMessage, options: { minimal?: boolean } = {}): Promise<void> {
  const headers = message.properties.headers ?? {};
  const id = deadLetterId(message);
  const code = (ours(message) && text(headers['x-eco-error'], 64)) || 'BROKER_DEAD_LETTERED';
  const reason = ours(message) ? text(headers['x-eco-reason']) : 'dead-lettered by the broker';
  const appId = text(message.properties.appId, 256);
  const messageId = text(message.properties.messageId, 256);
  const properties = options.minimal ? { note: 'the properties could not be stored' } : safeJson(message.properties);
  await audited(
    db,
    (client) =>
      client.query(
        `INSERT INTO dead_letters (id, code, reason, app_id, message_id, properties, body) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO NOTHING`,
        [id, code, reason, appId, messageId, JSON.stringify(properties), message.content],
      ),
    ({ rowCount }) => (rowCount ? { actor: 'system', action: 'message.dead-lettered', subject: id, data: { code, appId, messageId } } : undefined),
  );
}

/** How many dead letters await an operator's decision (replay or discard). */
export async function countHeld(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ count: number }>("SELECT count(*)::int AS count FROM dead_letters WHERE status = 'held'");
  return rows[0]?.count ?? 0;
}

export class DeadLetters {
  constructor(
    private readonly db: Db,
    private readonly partyId: string,
    private readonly amqpUrl: string,
    private readonly log: WarnLog,
  ) {}

  async list(filter: { status?: DeadLetterStatus; limit: number }): Promise<DeadLetter[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM dead_letters WHERE ($1::text IS NULL OR status = $1) ORDER BY received_at DESC LIMIT $2', [filter.status ?? null, filter.limit]);
    return rows.map(toDeadLetter);
  }

  async get(id: string): Promise<DeadLetterDetail | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM dead_letters WHERE id = $1', [id]);
    const row = rows[0];
    if (!row) return undefined;
    const body = row.body.toString('utf8');
    // Shown as received, unverified: what made it a dead letter may be the very signature.
    const decoded = decodeUnverified(body) ?? null;
    return { ...toDeadLetter(row), properties: row.properties, body, decoded };
  }

  /**
   * Publishes the message again onto our own eco.inbound, as it came (after the peer was
   * registered, say); the consumer then checks it afresh. Undefined when there is no such letter.
   */
  async replay(id: string, actor: string): Promise<DeadLetter | undefined> {
    return this.handle(id, actor, 'replayed', async (row) => {
      const { 'x-death': _death, 'x-eco-error': _error, 'x-eco-reason': _reason, [DEAD_ID_HEADER]: _id, ...headers } = row.properties.headers ?? {};
      // Not carried over: the broker checks userId against our own connection, and an expiration could drop it.
      const { userId: _user, expiration: _expiration, ...properties } = row.properties;
      const connection = await connect(this.amqpUrl, `eco-replay ${this.partyId}`, this.log);
      const publisher = new ConfirmPublisher(await connection.createConfirmChannel(), 10_000, connection);
      try {
        await publisher.publish(INBOUND_EXCHANGE, this.partyId, row.body, {
          ...properties,
          headers,
          messageId: row.message_id ?? row.id,
          persistent: true,
          mandatory: true,
        });
      } finally {
        await publisher.close();
      }
    });
  }

  async discard(id: string, actor: string): Promise<DeadLetter | undefined> {
    return this.handle(id, actor, 'discarded', async () => {});
  }

  private async handle(id: string, actor: string, status: DeadLetterStatus, action: (row: Row) => Promise<void>): Promise<DeadLetter | undefined> {
    return withTransaction(this.db, async (client) => {
      const { rows } = await client.query<Row>('SELECT * FROM dead_letters WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0];
      if (!row) return undefined;
      if (row.status !== 'held') throw conflict(`dead letter ${id} was already ${row.status}`);
      await action(row);
      const { rows: updated } = await client.query<Row>('UPDATE dead_letters SET status = $2, handled_at = now(), handled_by = $3 WHERE id = $1 RETURNING *', [id, status, actor]);
      await audit(client, { actor, action: `dead-letter.${status}`, subject: id, data: { code: row.code, messageId: row.message_id } });
      return toDeadLetter(updated[0]!);
    });
  }
}
