// Decimal strings ("1200.50") added exactly: scaled to integers, never through floating point.
const SCALE = 6;

export function toScaled(value: string): bigint {
  const [whole, fraction = ''] = value.split('.');
  return BigInt(whole! + fraction.padEnd(SCALE, '0').slice(0, SCALE));
}

export function sumDecimals(values: string[]): bigint {
  return values.reduce((sum, v) => sum + toScaled(v), 0n);
}
