// A printable copy of a certificate: an A4 PDF laid out as officers know a CO form (numbered boxes),
// labelled in English and French, with the seal's QR code and the signed data attached (PDF/A-3b).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Font } from 'fontkit';
import type { Certificate } from '../dataset/index.ts';
import { sealPng } from '../seals/index.ts';

export type CopyStatus = 'valid' | 'replaced' | 'cancelled';

export type PrintableCopy = {
  certificate: Certificate;
  direction: 'issued' | 'received';
  status: CopyStatus;
  cancellation: { reason: string; cancelledAt: string } | null;
  /** The party printing: the issuer for an issued copy, the importing party for a received one. */
  printedBy: string;
  printedAt: Date;
  /** The seal (issued copies only: only the issuer can seal). */
  seal?: string;
  attachments: { name: string; type: string; description: string; text: string }[];
};

const require = createRequire(import.meta.url);

/**
 * pdfkit and the fonts, loaded at the first print, not at start (they take over a second to load:
 * every process would pay it, the consumer that never prints too). DejaVu: a free font with every
 * Latin letter the two languages need, embedded as PDF/A requires; parsed once per process and
 * shared by every document (pdfkit takes a fontkit font as it is), since parsing and the first
 * shaping of a font this size cost more than the rest of a page.
 */
let toolkit: Promise<{ PDFDocument: typeof import('pdfkit'); fonts: { regular: Font; bold: Font } }> | undefined;
function loadToolkit() {
  toolkit ??= Promise.all([import('pdfkit'), import('fontkit')]).then(([pdfkit, fontkit]) => {
    const open = (file: string) => fontkit.create(readFileSync(require.resolve(`dejavu-fonts-ttf/ttf/${file}`))) as Font;
    return { PDFDocument: pdfkit.default, fonts: { regular: open('DejaVuSans.ttf'), bold: open('DejaVuSans-Bold.ttf') } };
  });
  toolkit.catch(() => {
    toolkit = undefined; // tried again at the next print
  });
  return toolkit;
}

const MM = 72 / 25.4;
const PAGE = { width: 595.28, height: 841.89, margin: 14 * MM };
const CONTENT_WIDTH = PAGE.width - 2 * PAGE.margin;
/** The seal's printed width: over the 25 mm PROFILE asks for, so that a phone reads it from paper. */
export const SEAL_WIDTH_MM = 45;

const KIND = {
  preferential: 'Preferential certificate of origin / Certificat d’origine préférentiel',
  'non-preferential': 'Non-preferential certificate of origin / Certificat d’origine non préférentiel',
  'origin-declaration': 'Origin declaration / Déclaration d’origine',
} as const;
const STATUS = { valid: 'VALID / VALIDE', replaced: 'REPLACED / REMPLACÉ', cancelled: 'CANCELLED / ANNULÉ' } as const;

type Party = NonNullable<Certificate['producer']>;
const partyLines = (p: Party | undefined) =>
  p ? [p.name, p.id ? `ID ${p.id}` : '', [p.address?.line, p.address?.postcode, p.address?.city, p.address?.country].filter(Boolean).join(', ')].filter(Boolean) : ['—'];
const attestationLines = (a: Certificate['certification']) => (a ? [`${a.place}, ${a.date}`, [a.signatory.name, a.signatory.title].filter(Boolean).join(', ')] : ['—']);

/** Items laid out between two yields to the event loop: a 999-item copy must not hold up other requests. */
const ITEMS_PER_TURN = 25;

/** Renders the copy; resolves with the PDF's bytes. */
export async function renderPdf(copy: PrintableCopy): Promise<Buffer> {
  const { PDFDocument, fonts } = await loadToolkit();
  const c = copy.certificate;
  const doc = new PDFDocument({
    size: 'A4',
    margin: PAGE.margin,
    pdfVersion: '1.7',
    subset: 'PDF/A-3b',
    lang: 'en',
    displayTitle: true,
    autoFirstPage: true,
    info: { Title: `Certificate of origin ${c.number} v${c.version}`, Author: c.issuer.name, Subject: `${c.issuer.partyId} ${c.number}`, Creator: 'eco-gateway', CreationDate: copy.printedAt },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  // @types/pdfkit knows only paths and buffers; pdfkit itself takes a fontkit font.
  doc.registerFont('regular', fonts.regular as unknown as Buffer);
  doc.registerFont('bold', fonts.bold as unknown as Buffer);
  for (const a of copy.attachments) {
    // AFRelationship Source (PDF/A-3): the data the page was made from; @types/pdfkit lacks the option.
    const options = { name: a.name, type: a.type, description: a.description, relationship: 'Source', creationDate: copy.printedAt, modifiedDate: copy.printedAt };
    doc.file(Buffer.from(a.text, 'utf8'), options as PDFKit.Mixins.PDFAttachmentOptions);
  }

  const watermark = () => {
    if (copy.status === 'valid') return;
    doc.save();
    doc.rotate(-40, { origin: [PAGE.width / 2, PAGE.height / 2] });
    doc.font('bold').fontSize(64).fillColor('#c0392b', 0.25);
    doc.text(STATUS[copy.status], 0, PAGE.height / 2 - 40, { width: PAGE.width, align: 'center', lineBreak: false });
    doc.restore();
    doc.fillColor('black', 1);
  };
  watermark();
  doc.on('pageAdded', watermark);
  /** A further page, headed with the certificate it continues; returns where its content starts. */
  const continued = (): number => {
    doc.addPage();
    doc.font('regular').fontSize(8).text(`${c.number} · Version ${c.version} · ${c.issuer.partyId} — continued / suite`, PAGE.margin, PAGE.margin, { width: CONTENT_WIDTH });
    return doc.y + 6;
  };

  let y = PAGE.margin;
  doc.font('bold').fontSize(13).text(KIND[c.kind], PAGE.margin, y, { width: CONTENT_WIDTH });
  y = doc.y + 2;
  doc.font('regular').fontSize(9);
  doc.text(`No. / N° ${c.number}   ·   Version ${c.version}   ·   ${c.agreement ? `Agreement / Accord ${c.agreement}   ·   ` : ''}Status / Statut: ${STATUS[copy.status]}`, PAGE.margin, y, {
    width: CONTENT_WIDTH,
  });
  y = doc.y + 6;

  /** A numbered box with its lines; returns the y below it. */
  const box = (n: number, label: string, lines: string[], x: number, top: number, width: number, minHeight = 0): number => {
    doc
      .font('bold')
      .fontSize(7)
      .text(`${n}. ${label}`, x + 4, top + 3, { width: width - 8 });
    doc
      .font('regular')
      .fontSize(8.5)
      .text(lines.join('\n'), x + 4, doc.y + 2, { width: width - 8 });
    const bottom = Math.max(doc.y + 4, top + minHeight);
    doc
      .lineWidth(0.6)
      .rect(x, top, width, bottom - top)
      .stroke();
    return bottom;
  };
  const row = (boxes: [number, string, string[]][], top: number): number => {
    const width = CONTENT_WIDTH / boxes.length;
    // Measure first so that the boxes of a row share one height.
    const heights = boxes.map(([, label, lines]) => {
      doc.font('bold').fontSize(7);
      const h1 = doc.heightOfString(label, { width: width - 8 });
      doc.font('regular').fontSize(8.5);
      return h1 + doc.heightOfString(lines.join('\n'), { width: width - 8 }) + 11;
    });
    const height = Math.max(...heights);
    return Math.max(...boxes.map(([n, label, lines], i) => box(n, label, lines, PAGE.margin + i * width, top, width, height)));
  };

  y = row(
    [
      [1, 'Exporter / Exportateur', partyLines(c.exporter)],
      [2, 'Consignee / Destinataire', partyLines(c.importer)],
    ],
    y,
  );
  y = row(
    [
      [3, 'Producer / Producteur', partyLines(c.producer)],
      [4, 'Issuing authority / Autorité émettrice', [c.issuer.name, c.issuer.partyId, `Issued / Délivré le ${c.issuedAt}`]],
    ],
    y,
  );
  const t = c.transport;
  y = row(
    [
      [5, 'Transport / Transport', t ? [`Mode ${t.mode ?? '—'}  ${t.means ?? ''}`, `${t.loadingPort ?? '—'} → ${t.dischargePort ?? '—'}`, `Departure / Départ ${t.departureDate ?? '—'}`] : ['—']],
      [6, 'Countries / Pays', [`Export / Exportation: ${c.exportCountry}`, `Import / Importation: ${c.importCountry}`]],
    ],
    y,
  );

  // Box 7: the items, a table that flows onto further pages.
  const columns = [
    { label: 'No.', width: 26 },
    { label: 'Description / Désignation', width: 150 },
    { label: 'HS / SH', width: 52 },
    { label: 'Origin / Origine', width: 44 },
    { label: 'Criterion / Critère', width: 56 },
    { label: 'Quantity / Quantité', width: 70 },
    { label: 'Gross / Brut', width: 62 },
    { label: 'Invoice / Facture', width: CONTENT_WIDTH - 460 },
  ];
  doc
    .font('bold')
    .fontSize(7)
    .text('7. Goods / Marchandises', PAGE.margin + 4, y + 3);
  y = doc.y + 2;
  const cells = (values: string[], font: 'regular' | 'bold', top: number): number => {
    doc.font(font).fontSize(font === 'bold' ? 6.5 : 7.5);
    const height = Math.max(...values.map((v, i) => doc.heightOfString(v, { width: columns[i]!.width - 4 }))) + 4;
    let x = PAGE.margin;
    values.forEach((v, i) => {
      doc.text(v, x + 2, top + 2, { width: columns[i]!.width - 4 });
      x += columns[i]!.width;
    });
    doc
      .lineWidth(0.3)
      .moveTo(PAGE.margin, top + height)
      .lineTo(PAGE.margin + CONTENT_WIDTH, top + height)
      .stroke();
    return top + height;
  };
  y = cells(
    columns.map((col) => col.label),
    'bold',
    y,
  );
  for (const [index, item] of c.items.entries()) {
    if (index > 0 && index % ITEMS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const values = [
      String(item.itemNumber),
      [item.description, item.packages ? `${item.packages.count} ${item.packages.kind}${item.packages.marks ? ` — ${item.packages.marks}` : ''}` : ''].filter(Boolean).join('\n'),
      item.hsCode,
      item.originCountry,
      item.originCriterion ?? '—',
      `${item.quantity.value} ${item.quantity.unit}`,
      item.grossWeight ? `${item.grossWeight.value} ${item.grossWeight.unit}` : '—',
      item.invoice ? `${item.invoice.number}${item.invoice.date ? `\n${item.invoice.date}` : ''}` : '—',
    ];
    if (y > PAGE.height - PAGE.margin - 60) y = continued();
    y = cells(values, 'regular', y);
  }
  y += 6;

  const remarks = [
    c.invoice ? `Invoice / Facture: ${c.invoice.number}${c.invoice.date ? ` (${c.invoice.date})` : ''}` : '',
    c.exporterAuthorization ? `Approved exporter / Exportateur agréé: ${c.exporterAuthorization}` : '',
    ...Object.entries(c.flags ?? {})
      .filter(([, on]) => on)
      .map(([flag]) => `☑ ${flag}`),
    c.replaces ? `Replaces / Remplace version ${c.replaces.version}` : '',
    c.remarks ?? '',
  ].filter(Boolean);
  const sealSide = SEAL_WIDTH_MM * MM;
  const textWidth = copy.seal ? CONTENT_WIDTH - sealSide - 10 : CONTENT_WIDTH;
  // The closing boxes and the seal stay together on one page.
  if (y > PAGE.height - PAGE.margin - Math.max(sealSide + 30, 230)) y = continued();
  const sealTop = y;
  y = box(8, 'Remarks / Observations', remarks.length ? remarks : ['—'], PAGE.margin, y, textWidth);
  y = box(9, 'Exporter’s declaration / Déclaration de l’exportateur', attestationLines(c.exporterDeclaration), PAGE.margin, y, textWidth);
  y = box(10, 'Certification / Certification', attestationLines(c.certification), PAGE.margin, y, textWidth);
  const history = [
    `Version ${c.version}: ${STATUS[copy.status]}`,
    copy.cancellation ? `Cancelled / Annulé le ${copy.cancellation.cancelledAt}: ${copy.cancellation.reason}` : '',
    copy.direction === 'issued'
      ? `Printed by the issuer / Imprimé par l’émetteur ${copy.printedBy}, ${copy.printedAt.toISOString()}`
      : `Copy printed by / Copie imprimée par ${copy.printedBy}, ${copy.printedAt.toISOString()}, from the data received from / à partir des données reçues de ${c.issuer.partyId}: not sealed by the issuer / non scellée par l’émetteur`,
  ].filter(Boolean);
  box(11, 'Version and status / Version et statut', history, PAGE.margin, y, textWidth);

  if (copy.seal) {
    const x = PAGE.margin + CONTENT_WIDTH - sealSide;
    doc.image(sealPng(copy.seal), x, sealTop, { width: sealSide, height: sealSide });
    doc
      .font('regular')
      .fontSize(6.5)
      .text('Seal / Sceau — verify: npm run eco -- verify, or /verify on the issuer’s gateway / vérifier sur /verify', x, sealTop + sealSide + 2, { width: sealSide, align: 'center' });
  }
  doc.end();
  return done;
}
