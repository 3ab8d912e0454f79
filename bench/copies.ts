// (g) The cost of a printed copy in this process: the seal (canonical form, then an ES256
// signature) and the PDF (the form, its QR code, its embedded font and attachment).

import { generateSigningKey } from '../src/exchange/jose.ts';
import { renderPdf } from '../src/printing/index.ts';
import { canonicalForm, certificateJws, makeSeal, sealPayload } from '../src/seals/index.ts';
import { exampleCertificate } from '../test/support/fixtures.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function copiesInProcess(): Promise<{ sealMicros: number; pdfP50Ms: number; pdfMaxMs: number; pdfBytes: number }> {
  const key = await generateSigningKey();
  const certificates = Array.from({ length: 200 }, () => exampleCertificate());
  const seal = async (i: number) => {
    const certificate = certificates[i % certificates.length]!;
    return makeSeal(sealPayload(certificate, canonicalForm(certificate).hash, 'https://gateway.kr.example/status'), key);
  };
  for (let i = 0; i < 200; i++) await seal(i); // warm-up
  const started = performance.now();
  const seals = 5000;
  for (let i = 0; i < seals; i++) await seal(i);
  const sealMicros = ((performance.now() - started) * 1000) / seals;

  const pdf = async (i: number) => {
    const certificate = certificates[i % certificates.length]!;
    const { canonical, hash } = canonicalForm(certificate);
    return renderPdf({
      certificate,
      direction: 'issued',
      status: 'valid',
      cancellation: null,
      printedBy: certificate.issuer.partyId,
      printedAt: new Date(),
      seal: await makeSeal(sealPayload(certificate, hash, 'https://gateway.kr.example/status'), key),
      attachments: [{ name: 'certificate.jws', type: 'application/jose', description: 'the certificate', text: await certificateJws(canonical, key) }],
    });
  };
  for (let i = 0; i < 5; i++) await pdf(i);
  const times: number[] = [];
  let pdfBytes = 0;
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    pdfBytes = Math.max(pdfBytes, (await pdf(i)).length);
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return { sealMicros, pdfP50Ms: percentile(times, 50), pdfMaxMs: times.at(-1)!, pdfBytes };
}
