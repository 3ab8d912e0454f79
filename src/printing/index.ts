export { Copies } from './copies.ts';
export { type PrintableCopy, renderPdf } from './pdf.ts';
