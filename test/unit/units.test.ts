// Quantities in Rec. 20 units: exact decimal arithmetic and conversion within a dimension.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { codeLists } from '../../src/dataset/code-lists.ts';
import { compare, convert, convertibleUnits, dimensionOf, divideUp, exact, format } from '../../src/dataset/index.ts';

const inUnit = (value: string, from: string, to: string) => {
  const converted = convert(exact(value), from, to);
  return converted && format(converted);
};

describe('units', () => {
  it('converts exactly within a dimension, and not across dimensions', () => {
    assert.equal(inUnit('12', 'TNE', 'KGM'), '12000');
    assert.equal(inUnit('24000000', 'GRM', 'KGM'), '24000');
    assert.equal(inUnit('24.001', 'TNE', 'KGM'), '24001');
    assert.equal(inUnit('1', 'LBR', 'KGM'), '0.45359237');
    assert.equal(inUnit('2', 'DZN', 'NAR'), '24');
    assert.equal(inUnit('1500', 'MLT', 'LTR'), '1.5');
    assert.equal(inUnit('1', 'KGM', 'LTR'), undefined, 'mass is not volume');
    assert.equal(inUnit('1', 'SET', 'NAR'), undefined, 'a set is not a count of articles');
    assert.equal(inUnit('5', 'ZZZ', 'ZZZ'), '5', 'a unit is its own');
  });

  it('rounds a non-terminating conversion up, at 12 fraction digits', () => {
    assert.equal(inUnit('1', 'KGM', 'LBR'), '2.204622621849');
    assert.equal(format(divideUp(exact('1'), exact('3'))), '0.333333333334');
    assert.equal(format(divideUp(exact('3'), exact('3'))), '1');
  });

  it('knows only units of the vendored Rec. 20 list', () => {
    assert.deepEqual(
      convertibleUnits().filter((u) => !codeLists.rec20!.has(u)),
      [],
    );
  });

  it('never understates: a value converted there and back is at least the value, and equal when the factors divide', () => {
    const units = convertibleUnits();
    fc.assert(
      fc.property(fc.constantFrom(...units), fc.constantFrom(...units), fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }), (from, to, n, scale) => {
        fc.pre(dimensionOf(from) === dimensionOf(to));
        const value = { n, scale };
        const there = convert(value, from, to)!;
        const back = convert(there, to, from)!;
        assert.ok(compare(back, value) >= 0, `${format(value)} ${from} -> ${format(there)} ${to} -> ${format(back)} ${from}`);
      }),
      { seed: 20261207, numRuns: 500 },
    );
  });
});
