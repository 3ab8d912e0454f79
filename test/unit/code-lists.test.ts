// The vendored UN/ECE code lists (src/dataset/code-lists/, docs/code-lists.md): what they hold, how
// the dataset checks membership, and how scripts/refresh-code-lists.ts reads the official files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { codesFromCsv, locodesFromCsv, parseCsv, sha256, unlocodeText, unzip } from '../../scripts/refresh-code-lists.ts';
import { certificateSchema, codeLists, loadCodeLists, toPointer } from '../../src/dataset/index.ts';
import { exampleCertificate } from '../support/fixtures.ts';

const listsDir = new URL('../../src/dataset/code-lists/', import.meta.url);
const sources = JSON.parse(readFileSync(new URL('sources.json', listsDir), 'utf8'));

function issues(input: unknown): [string, string][] {
  const result = certificateSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => [toPointer(i.path), i.message]);
}

describe('vendored code lists', () => {
  it('hold UN/ECE Rec. 20 rev. 17 and Rec. 21 rev. 12, with their source recorded', () => {
    assert.equal(codeLists.rec20?.edition, 'Revision 17 (2021)');
    assert.equal(codeLists.rec20?.size, 1756);
    assert.equal(codeLists.rec21?.edition, 'Revision 12 (2021)');
    assert.equal(codeLists.rec21?.size, 405);
    for (const name of ['rec20', 'rec21']) {
      const source = sources[name];
      assert.equal(source.source.url, 'npm:un-ece-recommendation@0.1.1', name);
      assert.match(source.source.sha256, /^[0-9a-f]{64}$/, name);
      assert.match(source.retrieved, /^\d{4}-\d{2}-\d{2}$/, name);
      assert.match(source.official, /^https:\/\/unece\.org\//, name);
    }
  });

  it('know the units and package kinds in use, and not made-up or withdrawn ones', () => {
    for (const unit of ['KGM', 'NAR', 'C62', 'H87', 'MTQ', 'LTR', 'TNE', 'ZZ', 'Z9']) assert.ok(codeLists.rec20!.has(unit), unit);
    // ZZZ is no unit; 05 (lift) is deleted (X) and SHT (shipping ton) deprecated (D) in rev. 17.
    for (const unit of ['ZZZ', 'XXX', 'kgm', '05', 'SHT', '']) assert.ok(!codeLists.rec20!.has(unit), unit);
    for (const kind of ['CT', 'BX', 'PK', 'PX', 'NE', 'ZZ', '1A']) assert.ok(codeLists.rec21!.has(kind), kind);
    // XCT is how EN 16931 writes CT inside Rec. 20; SX (set) is deleted in rev. 12.
    for (const kind of ['XX', 'XCT', 'SX', 'ct']) assert.ok(!codeLists.rec21!.has(kind), kind);
  });

  it('make the dataset refuse a unit or package kind off the list, with the code, list and edition at its pointer', () => {
    const co = exampleCertificate();
    const item = co.items[0]!;
    const bad = {
      ...co,
      items: [{ ...item, quantity: { value: '1', unit: 'ZZZ' }, grossWeight: { value: '1', unit: 'KGM' }, packages: { count: 1, kind: 'XX' } }],
      totals: { grossWeight: { value: '1', unit: 'QQQ' } },
    };
    assert.deepEqual(issues(bad).sort(), [
      ['/items/0/packages/kind', "package kind 'XX' is not in UN/ECE Recommendation 21, Revision 12 (2021)"],
      ['/items/0/quantity/unit', "unit 'ZZZ' is not in UN/ECE Recommendation 20, Revision 17 (2021)"],
      ['/totals/grossWeight', 'every item needs a grossWeight in QQQ to be totalled'],
      ['/totals/grossWeight/unit', "unit 'QQQ' is not in UN/ECE Recommendation 20, Revision 17 (2021)"],
    ]);
    const good = { ...co, items: [{ ...item, quantity: { value: '3', unit: 'C62' }, grossWeight: { value: '2.5', unit: 'TNE' }, packages: { count: 3, kind: 'PX' } }] };
    assert.deepEqual(issues(good), []);
  });

  it('keep the format message for a code of the wrong shape (no list lookup)', () => {
    const co = exampleCertificate();
    const bad = { ...co, items: [{ ...co.items[0]!, quantity: { value: '1', unit: 'kilograms' } }] };
    assert.deepEqual(issues(bad), [['/items/0/quantity/unit', 'must be a UN/ECE Rec. 20 unit code such as KGM']]);
  });

  it('are read only as sources.json describes them, and refuse a file cut short', () => {
    const dir = mkdtempSync(join(tmpdir(), 'code-lists-test-'));
    const url = pathToFileURL(`${dir}/`);
    assert.deepEqual(loadCodeLists(url), {});
    writeFileSync(join(dir, 'rec20.txt'), '# a comment\nKGM\nNAR\n');
    writeFileSync(join(dir, 'unlocode.txt'), 'KR PUS SEL\nVN SGN\n');
    writeFileSync(join(dir, 'sources.json'), JSON.stringify({ rec20: { edition: 'test', file: 'rec20.txt', codes: 2 }, unlocode: { edition: '2024-2', file: 'unlocode.txt', codes: 3 } }));
    const lists = loadCodeLists(url);
    assert.deepEqual(Object.keys(lists), ['rec20', 'unlocode']);
    assert.ok(lists.unlocode!.has('KRPUS') && lists.unlocode!.has('VNSGN') && !lists.unlocode!.has('KRSGN'));
    assert.equal(lists.unlocode!.name, 'UN/LOCODE');
    writeFileSync(join(dir, 'sources.json'), JSON.stringify({ rec20: { edition: 'test', file: 'rec20.txt', codes: 3 } }));
    assert.throws(() => loadCodeLists(url), /rec20\.txt has 2 codes, sources\.json says 3/);
  });
});

/** A zip archive of deflated files, as the UN/LOCODE download is. */
function zipOf(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = deflateRawSync(Buffer.from(text, 'latin1'));
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(8, 8);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(text.length, 22);
    header.writeUInt16LE(name.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(text.length, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(header, Buffer.from(name), data);
    central.push(entry, Buffer.from(name));
    offset += 30 + name.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

describe('refresh-code-lists', () => {
  it('reads CSV with quoted commas, quotes and line breaks', () => {
    assert.deepEqual(parseCsv('a,"b, c","say ""x""","two\nlines"\r\n,z\n'), [
      ['a', 'b, c', 'say "x"', 'two\nlines'],
      ['', 'z'],
    ]);
  });

  it('takes the codes in force from a Rec. 20 CSV: not X (deleted) nor D (deprecated)', () => {
    const csv = 'Status,"Common Code",Name,Description\nX,05,lift,\n,KGM,kilogram,"A unit, of mass\nwith two lines"\nD,SHT,shipping ton,\n+,Z9,nanomole,\n';
    assert.deepEqual(codesFromCsv(csv, 'Common Code', ['X', 'D']), ['KGM', 'Z9']);
    assert.throws(() => codesFromCsv('Code,Name\nCT,Carton\n', 'Common Code', ['X']), /no "Status" and "Common Code" columns/);
  });

  it('takes UN/LOCODE entries from the official zip: not the country rows, not X', () => {
    const part1 = ',KR,,".KOREA, REPUBLIC OF",,,,,,,,\n,KR,PUS,Busan,Busan,26,AI,1234----,0701,,3506N 12903E,\nX,KR,OLD,Gone,Gone,,RL,1-------,0701,,,\n';
    const part2 = '=,VN,SGN,"Ho Chi Minh City",Ho Chi Minh City,SG,AI,1234----,0701,,1045N 10640E,\n';
    const zip = zipOf({ '2024-2 UNLOCODE CodeListPart1.csv': part1, '2024-2 UNLOCODE CodeListPart2.csv': part2, '2024-2 SubdivisionCodes.csv': 'KR,26,Busan\n' });
    const files = unzip(zip);
    assert.deepEqual([...files.keys()].sort(), ['2024-2 SubdivisionCodes.csv', '2024-2 UNLOCODE CodeListPart1.csv', '2024-2 UNLOCODE CodeListPart2.csv']);
    const codes = [...files].filter(([n]) => /CodeList/.test(n)).flatMap(([, b]) => locodesFromCsv(b.toString('latin1')));
    assert.deepEqual(codes.sort(), ['KRPUS', 'VNSGN']);
    assert.equal(unlocodeText([...codes, 'KRSEL']), 'KR PUS SEL\nVN SGN\n');
    assert.match(sha256(zip), /^[0-9a-f]{64}$/);
  });
});
