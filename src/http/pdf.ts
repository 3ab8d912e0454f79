import type { FastifyReply } from 'fastify';

/** Sends a printable copy as a PDF to open in the browser, named after the certificate. */
export function sendPdf(reply: FastifyReply, number: string, pdf: Buffer): FastifyReply {
  return reply
    .type('application/pdf')
    .header('cache-control', 'no-store')
    .header('content-disposition', `inline; filename="${number.replace(/[^A-Za-z0-9.-]/g, '_')}.pdf"`)
    .serializer((bytes: unknown) => bytes as string)
    .send(pdf as never);
}
