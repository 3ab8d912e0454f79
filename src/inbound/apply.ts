// Business rules and storage of a verified message, by type (PROFILE receiver check 6).
import { type AgreementBook, agreementViolations } from '../agreements/index.ts';
import { insertCancellation, insertReceived, insertReportedUtilization, refreshReceivedStatuses } from '../certificates/index.ts';
import type { DbClient } from '../db/index.ts';
import { type MessageError, messageError } from '../exchange/index.ts';
import { type OutboxWriter, type ReceiptOutcome, recordReceipt, resendCertificate } from '../outbound/index.ts';
import { answerStatement, recordAnswer } from '../reconciliation/index.ts';
import { receiveAnswer, receiveRequest } from '../verifications/index.ts';
import type { Verified } from './checks.ts';
import { receivedLines } from './inbox.ts';

export type Applied = {
  errors: MessageError[];
  note?: ReceiptOutcome;
  receiptLatencySeconds?: number;
  /** A receipt: the status it gives the message it answers, that message, and its certificate. */
  receipt?: { status: string; inReplyTo: string; certificateNumber?: string };
};

export async function applyMessage(client: DbClient, outbox: OutboxWriter, verified: Verified, bodyText: string, agreements: AgreementBook): Promise<Applied> {
  const { envelope, message, peer } = verified;
  switch (message.type) {
    case 'certificate.issued':
    case 'certificate.replaced': {
      const co = message.certificate;
      const violations = agreementViolations(co, co.agreement ? await agreements.find(co.agreement, client) : undefined, peer.agreements);
      if (violations.length) return { errors: violations.map((v) => messageError(v.code, v.message, `/body${v.pointer}`)) };
      const outcome = await insertReceived(client, { issuer: envelope.from, certificate: co, rawDataset: message.rawCertificate, jws: bodyText, messageId: envelope.id });
      if (outcome === 'conflict') {
        return { errors: [messageError('CONFLICTING_CERTIFICATE', `${envelope.from} ${co.number} version ${co.version} was received before with other content`, '/body')] };
      }
      return { errors: [] };
    }
    case 'certificate.cancelled': {
      const { certificateNumber, reason, cancelledAt } = message.cancellation;
      // Kept even before the certificate itself arrives: it will arrive cancelled.
      await insertCancellation(client, { issuer: envelope.from, number: certificateNumber, reason, cancelledAt, messageId: envelope.id });
      await refreshReceivedStatuses(client, envelope.from, certificateNumber);
      return { errors: [] };
    }
    case 'certificate.utilized': {
      const u = message.utilization;
      const known = await insertReportedUtilization(client, {
        from: envelope.from,
        number: u.certificateNumber,
        declarationRef: u.declarationRef,
        items: u.items,
        clearedAt: u.clearedAt,
        messageId: envelope.id,
      });
      return known ? { errors: [] } : { errors: [messageError('UNKNOWN_CERTIFICATE', `no certificate ${u.certificateNumber} was issued here to ${envelope.from}`, '/body/certificateNumber')] };
    }
    case 'verification.requested':
      return { errors: await receiveRequest(client, envelope.from, envelope.to, message.request, envelope.id) };
    case 'verification.answered':
      return { errors: await receiveAnswer(client, envelope.from, message.answer) };
    case 'certificate.requested': {
      // Pull model: send again everything we sent that party about the number (same ids and
      // bytes: what it already holds it deduplicates), or NOT_FOUND.
      const resent = await resendCertificate(client, envelope.from, message.request.certificateNumber);
      return resent ? { errors: [] } : { errors: [messageError('NOT_FOUND', `no certificate ${message.request.certificateNumber} was issued here to ${envelope.from}`, '/body/certificateNumber')] };
    }
    case 'reconciliation.statement':
      return { errors: await answerStatement(client, outbox, peer, envelope.id, message.statement, receivedLines) };
    case 'reconciliation.answered':
      return { errors: await recordAnswer(client, envelope.from, message.answer) };
    case 'receipt': {
      // Receipts are never answered, so what we make of one is only logged and kept.
      const { note, latencySeconds, certificateNumber } = await recordReceipt(client, { inReplyTo: message.inReplyTo, from: envelope.from, body: message.receipt, jws: bodyText });
      return {
        errors: [],
        note,
        receiptLatencySeconds: latencySeconds,
        receipt: { status: message.receipt.status, inReplyTo: message.inReplyTo, ...(certificateNumber ? { certificateNumber } : {}) },
      };
    }
  }
}
