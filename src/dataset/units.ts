// Quantities in UN/ECE Rec. 20 units, converted exactly: units of one dimension convert through the
// factors Rec. 20 gives to the dimension's base unit. Units not listed here (a set, a package,
// energy…) convert to nothing but themselves.
import { divideUp, type Exact, exact, multiply } from './decimal.ts';

export type Dimension = 'mass' | 'volume' | 'length' | 'area' | 'count';

/** Rec. 20's conversion factor of each unit to its dimension's base unit (KGM, MTQ, MTR, MTK, C62). */
const FACTORS: Record<Dimension, Record<string, string>> = {
  mass: {
    KGM: '1',
    GRM: '0.001',
    MGM: '0.000001',
    MC: '0.000000001',
    HGM: '0.1',
    DTN: '100',
    TNE: '1000',
    KTN: '1000000',
    CTM: '0.0002',
    LBR: '0.45359237',
    ONZ: '0.028349523125',
    STN: '907.18474',
    LTN: '1016.0469088',
  },
  volume: {
    MTQ: '1',
    LTR: '0.001',
    MLT: '0.000001',
    HLT: '0.1',
    CMQ: '0.000001',
    DMQ: '0.001',
    GLL: '0.003785411784',
    GLI: '0.00454609',
    FTQ: '0.028316846592',
    INQ: '0.000016387064',
    BLL: '0.158987294928',
  },
  length: { MTR: '1', MMT: '0.001', CMT: '0.01', DMT: '0.1', KMT: '1000', INH: '0.0254', FOT: '0.3048', YRD: '0.9144', SMI: '1609.344' },
  area: { MTK: '1', MMK: '0.000001', CMK: '0.0001', DMK: '0.01', KMK: '1000000', INK: '0.00064516', FTK: '0.09290304', YDK: '0.83612736', ACR: '4046.8564224' },
  count: { C62: '1', NAR: '1', H87: '1', EA: '1', PR: '2', DZN: '12', CEN: '100', GRO: '144', MIL: '1000' },
};

const byUnit = new Map<string, { dimension: Dimension; factor: Exact }>(
  Object.entries(FACTORS).flatMap(([dimension, units]) => Object.entries(units).map(([unit, factor]) => [unit, { dimension: dimension as Dimension, factor: exact(factor) }] as const)),
);

/** Every unit this module converts, for tests and documentation. */
export const convertibleUnits = (): string[] => [...byUnit.keys()];

export function dimensionOf(unit: string): Dimension | undefined {
  return byUnit.get(unit)?.dimension;
}

/** `value` in `from` expressed in `to` (rounded up past 12 fraction digits), or undefined when the two cannot convert. */
export function convert(value: Exact, from: string, to: string): Exact | undefined {
  if (from === to) return value;
  const a = byUnit.get(from);
  const b = byUnit.get(to);
  if (!a || !b || a.dimension !== b.dimension) return undefined;
  return divideUp(multiply(value, a.factor), b.factor);
}
