// Decimal strings ("1200.50") added exactly: scaled to integers, never through floating point.
const SCALE = 6;

export function toScaled(value: string): bigint {
  const [whole, fraction = ''] = value.split('.');
  return BigInt(whole! + fraction.padEnd(SCALE, '0').slice(0, SCALE));
}

export function sumDecimals(values: string[]): bigint {
  return values.reduce((sum, v) => sum + toScaled(v), 0n);
}

/** Back to a decimal string, without trailing zeros ("1150.5"). */
export function fromScaled(value: bigint): string {
  const digits = (value < 0n ? -value : value).toString().padStart(SCALE + 1, '0');
  const text = `${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`.replace(/\.?0+$/, '');
  return value < 0n ? `-${text}` : text;
}
