// Decimal strings ("1200.50") computed exactly: a decimal is a bigint and a scale, never a float.

/** value = n / 10^scale, exactly. */
export type Exact = { n: bigint; scale: number };

export function exact(text: string): Exact {
  const [whole, fraction = ''] = text.split('.');
  return { n: BigInt(whole! + fraction), scale: fraction.length };
}

const pow10 = (k: number) => 10n ** BigInt(k);
const aligned = (a: Exact, b: Exact): [bigint, bigint, number] => {
  const scale = Math.max(a.scale, b.scale);
  return [a.n * pow10(scale - a.scale), b.n * pow10(scale - b.scale), scale];
};

export const add = (a: Exact, b: Exact): Exact => {
  const [x, y, scale] = aligned(a, b);
  return { n: x + y, scale };
};
export const subtract = (a: Exact, b: Exact): Exact => {
  const [x, y, scale] = aligned(a, b);
  return { n: x - y, scale };
};
export const multiply = (a: Exact, b: Exact): Exact => ({ n: a.n * b.n, scale: a.scale + b.scale });
export function compare(a: Exact, b: Exact): -1 | 0 | 1 {
  const [x, y] = aligned(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * a / b, exact where the quotient is a finite decimal of at most `digits` fraction digits, else
 * rounded up at that digit: a quantity drawn is never understated.
 */
export function divideUp(a: Exact, b: Exact, digits = 12): Exact {
  // a/b = (a.n / 10^a.scale) / (b.n / 10^b.scale) = a.n * 10^(b.scale + digits - a.scale) / b.n / 10^digits
  const shift = b.scale + digits - a.scale;
  const numerator = shift >= 0 ? a.n * pow10(shift) : a.n;
  const denominator = shift >= 0 ? b.n : b.n * pow10(-shift);
  const quotient = numerator / denominator;
  const up = numerator % denominator === 0n || numerator < 0n ? quotient : quotient + 1n;
  return normal({ n: up, scale: digits });
}

/** Without trailing zeros in the fraction. */
function normal(value: Exact): Exact {
  let { n, scale } = value;
  while (scale > 0 && n % 10n === 0n) {
    n /= 10n;
    scale--;
  }
  return { n, scale };
}

/** A decimal string without trailing zeros ("24000", "0.5"). */
export function format(value: Exact): string {
  const { n, scale } = normal(value);
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}
