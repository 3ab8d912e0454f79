// Business rules and storage of a verified message, by type (PROFILE receiver check 6).
import { insertReceived } from '../certificates/index.ts';
import type { DbClient } from '../db/index.ts';
import { messageError, type MessageError } from '../exchange/codes.ts';
import { recordReceipt, type ReceiptOutcome } from '../outbound/index.ts';
import type { Verified } from './checks.ts';

export type Applied = { errors: MessageError[]; note?: ReceiptOutcome };

export async function applyMessage(client: DbClient, verified: Verified, bodyText: string): Promise<Applied> {
  const { envelope, message } = verified;
  switch (message.type) {
    case 'certificate.issued': {
      const outcome = await insertReceived(client, {
        issuer: envelope.from,
        certificate: message.certificate,
        rawDataset: message.rawCertificate,
        jws: bodyText,
        messageId: envelope.id,
      });
      if (outcome !== 'conflict') return { errors: [] };
      const { number, version } = message.certificate;
      return { errors: [messageError('CONFLICTING_CERTIFICATE', `${envelope.from} ${number} version ${version} was received before with other content`, '/body')] };
    }
    case 'receipt': {
      // Receipts are never answered, so what we make of one is only logged and kept.
      const note = await recordReceipt(client, { inReplyTo: message.inReplyTo, from: envelope.from, body: message.receipt, jws: bodyText });
      return { errors: [], note };
    }
  }
}
