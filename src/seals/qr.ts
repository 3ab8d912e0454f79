// The seal as a QR code: drawn for a printed copy, and read back from a PNG or from a PDF copy
// (its image and its certificate.jws attachment), for the CLI verifier. Node only.
import { inflateSync, constants as zlibConstants } from 'node:zlib';
import type { PDFDocument, PDFRawStream } from 'pdf-lib';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { decodeQrPixels } from './decode-qr.ts';

/** Pixels per QR module in the drawn image: enough for a 200 dpi scan of a 45 mm code to read. */
const PIXELS_PER_MODULE = 4;

const QUIET_ZONE_MODULES = 4;
/** Larger images are refused unread: a seal fits in a few hundred pixels. */
const MAX_IMAGE_PIXELS = 40_000_000;
/** A PDF's images are read up to this many pixels in all (an A4 page scanned at 300 dpi is 8.7 million). */
const MAX_PDF_PIXELS = 20_000_000;
export const MAX_COPY_BYTES = 30 * 1024 * 1024;
/** What all of a PDF's compressed streams may inflate to: a flate bomb is refused before the PDF is parsed. */
const MAX_PDF_INFLATED_BYTES = 64 * 1024 * 1024;

/** The seal as a grey-scale PNG: error correction M, byte mode (PROFILE 1.2). */
export function sealPng(text: string): Buffer {
  const code = QRCode.create([{ data: Buffer.from(text, 'utf8'), mode: 'byte' }], { errorCorrectionLevel: 'M' });
  const modules = code.modules.size;
  const side = (modules + 2 * QUIET_ZONE_MODULES) * PIXELS_PER_MODULE;
  const png = new PNG({ width: side, height: side, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = Buffer.alloc(side * side, 255);
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (!code.modules.get(row, col)) continue;
      for (let dy = 0; dy < PIXELS_PER_MODULE; dy++) {
        const y = (row + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE + dy;
        png.data.fill(0, y * side + (col + QUIET_ZONE_MODULES) * PIXELS_PER_MODULE, y * side + (col + QUIET_ZONE_MODULES + 1) * PIXELS_PER_MODULE);
      }
    }
  }
  // No row filter: a reader of the PDF's image (below) then needs only to inflate it.
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false, filterType: 0 });
}

/** Reads a PNG's size from its header, before decoding anything. */
function pngSize(bytes: Buffer): { width: number; height: number } | undefined {
  if (bytes.length < 24 || bytes.toString('latin1', 1, 4) !== 'PNG' || bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

export class UnreadableCopy extends Error {}

/** The seal in a PNG image (a photo or scan of a printed copy). */
export function sealFromPng(bytes: Buffer): string | undefined {
  const size = pngSize(bytes);
  if (!size) throw new UnreadableCopy('not a PNG image');
  if (size.width * size.height > MAX_IMAGE_PIXELS) throw new UnreadableCopy(`the image is ${size.width}x${size.height} pixels, over ${MAX_IMAGE_PIXELS}`);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (error) {
    throw new UnreadableCopy(`the PNG image is corrupt (${(error as Error).message})`);
  }
  return decodeQrPixels(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
}

/** Undoes PNG row filters (PDF predictors 10-15) on 8-bit samples. */
function unfilterRows(data: Buffer, columns: number, colors: number): Buffer {
  const stride = columns * colors;
  const rows = Math.floor(data.length / (stride + 1));
  const out = Buffer.alloc(rows * stride);
  for (let r = 0; r < rows; r++) {
    const filter = data[r * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const raw = data[r * (stride + 1) + 1 + i]!;
      const left = i >= colors ? out[r * stride + i - colors]! : 0;
      const up = r > 0 ? out[(r - 1) * stride + i]! : 0;
      const upLeft = r > 0 && i >= colors ? out[(r - 1) * stride + i - colors]! : 0;
      const p = left + up - upLeft;
      const paeth = Math.abs(p - left) <= Math.abs(p - up) && Math.abs(p - left) <= Math.abs(p - upLeft) ? left : Math.abs(p - up) <= Math.abs(p - upLeft) ? up : upLeft;
      const predicted = [0, left, up, (left + up) >> 1, paeth][filter] ?? 0;
      out[r * stride + i] = (raw + predicted) & 0xff;
    }
  }
  return out;
}

/** Grey or RGB 8-bit image samples to RGBA. */
function toRgba(samples: Buffer, pixels: number, colors: number): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = samples[p * colors + (colors === 1 ? 0 : c)] ?? 255;
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

/**
 * Inflates every stream of the raw PDF, within MAX_PDF_INFLATED_BYTES in all, before any parser
 * does: pdf-lib inflates object streams while loading, with no bound of its own.
 */
function refuseFlateBombs(bytes: Buffer): void {
  let budget = MAX_PDF_INFLATED_BYTES;
  for (let at = bytes.indexOf('stream'); at !== -1; at = bytes.indexOf('stream', at + 6)) {
    if (bytes.toString('latin1', at - 3, at) === 'end') continue;
    const start = at + (bytes[at + 6] === 0x0d ? 8 : 7);
    const end = bytes.indexOf('endstream', start);
    if (end === -1) break;
    try {
      budget -= inflateSync(bytes.subarray(start, end), { maxOutputLength: Math.max(budget, 1), finishFlush: zlibConstants.Z_SYNC_FLUSH }).length;
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new UnreadableCopy(`the PDF's streams inflate to over ${MAX_PDF_INFLATED_BYTES} bytes`);
      // not deflated data (an image in another format): nothing to bound here
    }
    if (budget <= 0) throw new UnreadableCopy(`the PDF's streams inflate to over ${MAX_PDF_INFLATED_BYTES} bytes`);
    at = end;
  }
}

/** From a PDF copy: the seal read off its images, and its `certificate.jws` attachment if any ('' when it cannot be read). */
export async function readPdfCopy(bytes: Buffer): Promise<{ seal?: string; certificateJws?: string }> {
  refuseFlateBombs(bytes);
  // pdf-lib only for this (the CLI): a gateway process does not load it at start.
  const { PDFDict, PDFDocument, PDFHexString, PDFName, PDFRawStream, PDFString } = await import('pdf-lib');
  const streamBytes = (stream: PDFRawStream): Buffer => {
    const raw = Buffer.from(stream.contents);
    return stream.dict.get(PDFName.of('Filter')) === PDFName.of('FlateDecode') ? inflateSync(raw, { maxOutputLength: MAX_COPY_BYTES }) : raw;
  };
  const text = (value: unknown) => (value instanceof PDFString || value instanceof PDFHexString ? value.decodeText() : undefined);
  let pdf: PDFDocument;
  try {
    pdf = await PDFDocument.load(bytes, { updateMetadata: false, throwOnInvalidObject: false });
  } catch (error) {
    throw new UnreadableCopy(`the PDF is corrupt (${(error as Error).message})`);
  }
  let seal: string | undefined;
  let certificateJws: string | undefined;
  let pixels = 0;
  for (const [, object] of pdf.context.enumerateIndirectObjects()) {
    if (object instanceof PDFDict && object.get(PDFName.of('Type')) === PDFName.of('Filespec') && text(object.get(PDFName.of('F'))) === 'certificate.jws') {
      // An attachment that cannot be read is still one: '' (HASH_MISMATCH), not none.
      certificateJws = '';
      try {
        const embedded = object.lookup(PDFName.of('EF'), PDFDict).lookup(PDFName.of('F'));
        if (embedded instanceof PDFRawStream) certificateJws = streamBytes(embedded).toString('utf8');
      } catch {
        // unreadable: stays ''
      }
      continue;
    }
    try {
      if (seal || !(object instanceof PDFRawStream) || object.dict.get(PDFName.of('Subtype')) !== PDFName.of('Image')) continue;
      const width = Number(object.dict.get(PDFName.of('Width'))?.toString());
      const height = Number(object.dict.get(PDFName.of('Height'))?.toString());
      if (!(width > 0 && height > 0 && pixels + width * height <= MAX_PDF_PIXELS)) continue;
      pixels += width * height;
      const parms = object.dict.lookupMaybe(PDFName.of('DecodeParms'), PDFDict);
      const colors = Number(parms?.get(PDFName.of('Colors'))?.toString() ?? (object.dict.get(PDFName.of('ColorSpace')) === PDFName.of('DeviceGray') ? 1 : 3));
      const predicted = Number(parms?.get(PDFName.of('Predictor'))?.toString() ?? 1) >= 10;
      const data = streamBytes(object);
      const samples = predicted ? unfilterRows(data, width, colors) : data;
      seal = decodeQrPixels(toRgba(samples, width * height, colors), width, height);
    } catch {
      // One unreadable object (an image in another format, a broken attachment) does not end the search.
    }
  }
  return { seal, certificateJws };
}
