// Reading a QR code from pixels (jsQR: plain JavaScript, the same in Node and in a browser).
import jsQRModule from 'jsqr';

// jsqr is CommonJS with its function also at .default: which one an import gets depends on the loader.
type JsQr = typeof import('jsqr').default;
const jsQR: JsQr = (jsQRModule as unknown as { default?: JsQr }).default ?? (jsQRModule as unknown as JsQr);

/** The text of the QR code in RGBA pixels, or undefined. */
export function decodeQrPixels(rgba: Uint8ClampedArray, width: number, height: number): string | undefined {
  return jsQR(rgba, width, height, { inversionAttempts: 'attemptBoth' })?.data || undefined;
}
