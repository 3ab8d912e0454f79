// Verification requests: the importing side asks the issuing party to verify a CO
// (verification.requested); the issuing party's back-office answers (verification.answered); the
// answer feeds the clearance decision.
import { randomUUID } from 'node:crypto';
import { hasReceived, wasIssuedTo } from '../certificates/index.ts';
import type { Db, DbClient, Queryable } from '../db/index.ts';
import { conflict, notFound, unprocessable } from '../errors.ts';
import type { MessageType, VerificationAnswer, VerificationRequest } from '../exchange/index.ts';
import { type MessageError, messageError } from '../exchange/index.ts';
import type { Outbound } from '../outbound/index.ts';
import type { PeerDirectory } from '../peers/index.ts';

export type Verification = {
  id: string;
  /** The id on the wire: ours for a request we made, the requester's for one we received (unique per requester only). */
  requestId: string;
  role: 'requester' | 'verifier';
  issuer: string;
  requester: string;
  certificateNumber: string;
  reasons: string[];
  questions: string;
  status: 'open' | 'answered';
  result: VerificationAnswer['result'] | null;
  findings: string | null;
  requestedAt: string;
  answeredAt: string | null;
};

type Row = {
  id: string;
  request_id: string;
  role: Verification['role'];
  issuer_party: string;
  requester_party: string;
  certificate_number: string;
  reasons: string[];
  questions: string;
  status: Verification['status'];
  result: Verification['result'];
  findings: string | null;
  requested_at: Date;
  answered_at: Date | null;
};

const toVerification = (r: Row): Verification => ({
  id: r.id,
  requestId: r.request_id,
  role: r.role,
  issuer: r.issuer_party,
  requester: r.requester_party,
  certificateNumber: r.certificate_number,
  reasons: r.reasons,
  questions: r.questions,
  status: r.status,
  result: r.result,
  findings: r.findings,
  requestedAt: r.requested_at.toISOString(),
  answeredAt: r.answered_at?.toISOString() ?? null,
});

/** The latest answered or open request this (importing) gateway made about a CO, for clearance. */
export async function latestVerification(db: Queryable, issuer: string, number: string): Promise<Verification | undefined> {
  const { rows } = await db.query<Row>("SELECT * FROM verifications WHERE role = 'requester' AND issuer_party = $1 AND certificate_number = $2 ORDER BY requested_at DESC LIMIT 1", [issuer, number]);
  return rows[0] && toVerification(rows[0]);
}

/** Exporting side: a request arrives. UNKNOWN_CERTIFICATE unless we issued that CO to the requester. */
export async function receiveRequest(client: DbClient, from: string, us: string, request: VerificationRequest, messageId: string): Promise<MessageError[]> {
  if (!(await wasIssuedTo(client, request.certificateNumber, from)))
    return [messageError('UNKNOWN_CERTIFICATE', `no certificate ${request.certificateNumber} was issued here to ${from}`, '/body/certificateNumber')];
  await client.query(
    // Our own id for the row: the requester's requestId is unique among its requests only.
    `INSERT INTO verifications (id, request_id, role, issuer_party, requester_party, certificate_number, reasons, questions, request_message_id)
     VALUES ($1, $2, 'verifier', $3, $4, $5, $6, $7, $8) ON CONFLICT (role, requester_party, request_id) DO NOTHING`,
    [randomUUID(), request.requestId, us, from, request.certificateNumber, JSON.stringify(request.reasons), request.questions, messageId],
  );
  return [];
}

/** Importing side: the answer arrives. NOT_FOUND unless it answers a request we sent to that party. */
export async function receiveAnswer(client: DbClient, from: string, answer: VerificationAnswer): Promise<MessageError[]> {
  const { rowCount } = await client.query(
    `UPDATE verifications SET status = 'answered', result = $3, findings = $4, answered_at = now()
      WHERE request_id = $1 AND role = 'requester' AND issuer_party = $2 AND certificate_number = $5`,
    [answer.requestId, from, answer.result, answer.findings, answer.certificateNumber],
  );
  return rowCount ? [] : [messageError('NOT_FOUND', `no verification request ${answer.requestId} about ${answer.certificateNumber} was sent to ${from}`, '/body/requestId')];
}

export class VerificationService {
  constructor(
    private readonly db: Db,
    private readonly partyId: string,
    private readonly peers: PeerDirectory,
    private readonly outbound: Outbound,
  ) {}

  /** Importing side: asks the issuing party to verify a CO it sent us. */
  async request(input: { certificateNumber: string; issuer: string; reasons: string[]; questions: string }, actor: string): Promise<Verification> {
    if (!(await hasReceived(this.db, input.issuer, input.certificateNumber)))
      throw unprocessable(`no certificate ${input.certificateNumber} from ${input.issuer} has been received`, [{ pointer: '/certificateNumber', detail: 'not received' }]);
    const id = randomUUID();
    const body = { requestId: id, certificateNumber: input.certificateNumber, reasons: input.reasons, questions: input.questions };
    await this.send(actor, input.issuer, 'verification.requested', input.certificateNumber, body, undefined, (client) =>
      client.query(
        `INSERT INTO verifications (id, request_id, role, issuer_party, requester_party, certificate_number, reasons, questions)
         VALUES ($1, $1, 'requester', $2, $3, $4, $5, $6)`,
        [id, input.issuer, this.partyId, input.certificateNumber, JSON.stringify(input.reasons), input.questions],
      ),
    );
    return this.find(id);
  }

  /** Exporting side: the back-office answers an open request. */
  async answer(id: string, input: { result: VerificationAnswer['result']; findings: string }, actor: string): Promise<Verification> {
    const request = await this.find(id);
    if (request.role !== 'verifier') throw conflict('this gateway made that request; the issuing party answers it');
    if (request.status !== 'open') throw conflict('the request has been answered');
    const body = { requestId: request.requestId, certificateNumber: request.certificateNumber, result: input.result, findings: input.findings };
    // PROFILE: an answer names in inReplyTo the message it answers (requests received before migration 021 did not keep it).
    const { rows } = await this.db.query<{ request_message_id: string | null }>('SELECT request_message_id FROM verifications WHERE id = $1', [id]);
    const inReplyTo = rows[0]?.request_message_id ?? undefined;
    await this.send(actor, request.requester, 'verification.answered', request.certificateNumber, body, inReplyTo, async (client) => {
      const { rowCount } = await client.query("UPDATE verifications SET status = 'answered', result = $2, findings = $3, answered_at = now() WHERE id = $1 AND status = 'open'", [
        id,
        input.result,
        input.findings,
      ]);
      if (!rowCount) throw conflict('the request has been answered meanwhile');
    });
    return this.find(id);
  }

  async find(id: string): Promise<Verification> {
    const { rows } = await this.db.query<Row>('SELECT * FROM verifications WHERE id = $1', [id]);
    if (!rows[0]) throw notFound(`no verification request ${id}`);
    return toVerification(rows[0]);
  }

  async list(filter: { role?: Verification['role']; status?: Verification['status'] }): Promise<Verification[]> {
    return (await this.page({ ...filter, limit: 500, offset: 0 })).rows;
  }

  /** Newest first, open ones before answered ones in each page's order; with how many there are in all. */
  async page(filter: { role?: Verification['role']; status?: Verification['status']; limit: number; offset: number }): Promise<{ rows: Verification[]; total: number }> {
    const params = [filter.role ?? null, filter.status ?? null];
    const where = 'WHERE ($1::text IS NULL OR role = $1) AND ($2::text IS NULL OR status = $2)';
    const [{ rows }, counted] = await Promise.all([
      this.db.query<Row>(`SELECT * FROM verifications ${where} ORDER BY (status = 'open') DESC, requested_at DESC LIMIT $3 OFFSET $4`, [...params, filter.limit, filter.offset]),
      this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM verifications ${where}`, params),
    ]);
    return { rows: rows.map(toVerification), total: counted.rows[0]!.n };
  }

  /** The change, its message and its audit entry, in one transaction. */
  private async send(
    actor: string,
    to: string,
    type: MessageType,
    number: string,
    body: Record<string, unknown>,
    inReplyTo: string | undefined,
    change: (client: DbClient) => Promise<unknown>,
  ): Promise<void> {
    const peer = await this.peers.find(to);
    if (peer?.status !== 'active') throw unprocessable(`${to} is not an active registered peer`);
    await this.outbound.transaction(async (client, outbox) => {
      await change(client);
      await outbox.send({
        to: peer,
        type,
        body,
        inReplyTo,
        certificateNumber: number,
        audit: () => ({ actor, action: type, subject: String(body.requestId), data: { certificateNumber: number, peer: to, ...('result' in body ? { result: body.result } : {}) } }),
      });
    });
  }
}
