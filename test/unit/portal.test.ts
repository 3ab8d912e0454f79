// The portal's pure parts: the string catalogue is complete in both languages, and the form maps
// rows and errors to the fields they belong to.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { throttledAddress } from '../../src/http/index.ts';
import { countryCode } from '../../src/portal/codes.ts';
import { fieldId, placeErrors, readForm, removeItem, toCertificate } from '../../src/portal/form.ts';
import { catalogue, formatDate, formatDecimal, formatTime, langs, localizeMessage, readDecimal } from '../../src/portal/messages.ts';

describe('portal catalogue', () => {
  const en = catalogue.en!;
  const placeholders = (text: string) => (text.match(/\{\w+\}/g) ?? []).sort().join(' ');

  it('has every key in every language, none left empty, with the same placeholders', () => {
    assert.ok(langs.length >= 3, `languages: ${langs.join(', ')}`);
    for (const lang of langs) {
      const messages = catalogue[lang]!;
      assert.deepEqual(
        Object.keys(en).filter((key) => !(key in messages)),
        [],
        `keys missing in ${lang}.json`,
      );
      assert.deepEqual(
        Object.keys(messages).filter((key) => !(key in en)),
        [],
        `keys in ${lang}.json that en.json does not have`,
      );
      for (const [key, text] of Object.entries(messages)) {
        assert.ok(text.trim(), `${lang} ${key} is empty`);
        // A translation may drop the type names of two generic validation messages; nothing else.
        if (!['msg.requiredInput', 'msg.wrongType'].includes(key)) assert.equal(placeholders(text), placeholders(en[key]!), `${lang} ${key}`);
      }
    }
  });

  it('writes French with a no-break space before : ; ? and !', () => {
    const wrong = Object.entries(catalogue.fr!).filter(([, text]) => /(^|[^\u00a0\u202f])[:;?!](\s|$)/.test(text.replace(/https?:\/\/\S+/g, '')));
    assert.deepEqual(
      wrong.map(([key]) => key),
      [],
    );
  });

  it('has every key the templates and pages name literally', () => {
    const views = new URL('../../src/portal/views/', import.meta.url);
    const sources = [
      ...readdirSync(views).map((f) => readFileSync(new URL(f, views), 'utf8')),
      ...readdirSync(new URL('../../src/portal/', import.meta.url))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => readFileSync(new URL(`../../src/portal/${f}`, import.meta.url), 'utf8')),
    ];
    const used = new Set(
      sources.flatMap((text) =>
        [...text.matchAll(/\bt\('([a-zA-Z.-]*[a-zA-Z])'/g), ...text.matchAll(/'((?:field|section|form|users|signIn|filter|password|numbering|review|cancel)\.[a-zA-Z]+)'/g)].map((m) => m[1]!),
      ),
    );
    assert.ok(used.size > 100, `found ${used.size} keys`);
    assert.deepEqual(
      [...used].filter((key) => !(key in en)),
      [],
    );
  });

  it("says the services' English messages in French and Spanish: validation, findings, risk flags", () => {
    const samples = [
      'must be an HS code of 6 to 10 digits',
      'must begin with an HS chapter, 01 to 97 (77 is reserved)',
      'Too big: expected string to have <=35 characters',
      'is required for a preferential certificate',
      'KR-FTA: origin criterion XX is not one of WO, PE, CTH',
      'cancelled by KR-KCS: wrong exporter',
      '10 KGM remain of 100 on item 1; this claim is 12 KGM',
      'item 2: 900 of 1000 KGM used',
      "unit 'XYZ' is not in UN/ECE Recommendation 20, Revision 17 (2021)",
    ];
    for (const lang of langs.filter((l) => l !== 'en')) {
      for (const message of samples) {
        const said = localizeMessage(lang, message);
        assert.notEqual(said, message, `${lang}: ${message}`);
        assert.doesNotMatch(said, /\{\w+\}/, `${lang}: every placeholder filled in "${said}"`);
      }
    }
    assert.match(localizeMessage('fr', 'is required for a preferential certificate'), /préférentiel/);
    // A message built to make a matcher backtrack (a peer's receipt holds such text) costs a scan, not minutes.
    const hostile = `the CO item is ${' is '.repeat(400)}`;
    const started = performance.now();
    for (const lang of ['fr', 'es']) localizeMessage(lang, hostile);
    assert.ok(performance.now() - started < 200, `hostile message matched in ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(localizeMessage('fr', 'something no template knows'), 'something no template knows');
  });

  it('formats and reads numbers and dates in each language', () => {
    assert.equal(formatDecimal('en', '12345.5'), '12,345.5');
    assert.equal(formatDecimal('fr', '12345.5'), '12\u202f345,5');
    assert.equal(formatDecimal('es', '12345.5'), '12.345,5');
    assert.equal(formatDecimal('fr', '0.000001'), '0,000001', 'exact digits, never through a float');
    assert.equal(readDecimal('fr', '350,5'), '350.5');
    assert.equal(readDecimal('fr', '1 234,5'), '1234.5');
    assert.equal(readDecimal('es', '1.234,5'), '1234.5');
    assert.equal(readDecimal('es', '1.500'), '1500', 'a point between groups of three is a group separator in Spanish');
    assert.equal(readDecimal('en', '1.500'), '1.500');
    assert.equal(readDecimal('en', '350,5'), '350,5', 'refused by the schema in English, not read as 3505');
    assert.equal(readDecimal('fr', 'abc'), 'abc');
    assert.equal(readDecimal('fr', '1 5'), '1 5', 'a space is a group separator between groups of three only');
    assert.equal(readDecimal('en', '12 34'), '12 34');
    assert.equal(formatTime('en', '2026-03-01T09:05:00Z'), 'Mar 1, 2026, 09:05 UTC');
    assert.match(formatTime('fr', '2026-03-01T09:05:00Z'), /^1 mars 2026.*09:05 UTC$/);
    assert.match(formatDate('es', '2026-03-01'), /^1 mar 2026$/);
  });
});

describe('country names', () => {
  it('reads a name in the language or in English, and never guesses between two countries', () => {
    assert.equal(countryCode('Vietnam', 'en'), 'VN');
    assert.equal(countryCode('vn', 'en'), 'VN');
    assert.equal(countryCode('Corée du Sud', 'fr'), 'KR');
    assert.equal(countryCode('Congo', 'en'), 'Congo', 'CG or CD: left for the schema to refuse');
    assert.equal(countryCode('Viet', 'en'), 'Viet', 'never cut to a code');
  });
});

describe('portal certificate form', () => {
  it('reads only known fields, bounded, and builds the dataset the REST API takes', () => {
    const state = readForm({ items: '2', '/number': 'KR-1', '/evil': 'x', '/items/1/hsCode': '850440', '/items/5/hsCode': '1', '/remarks': 'r'.repeat(5000) }, 'preferential');
    assert.equal(state.items, 2);
    assert.deepEqual(Object.keys(state.values).sort(), ['/items/1/hsCode', '/number', '/remarks']);
    assert.equal(state.values['/remarks']!.length, 2001, 'cut past its bound, so the schema still says it is too long');
    const co = toCertificate(state, { partyId: 'KR-KCS' }, 1) as { items: { itemNumber: number; hsCode?: string }[]; issuer: unknown };
    assert.deepEqual(co.items, [{ itemNumber: 1 }, { itemNumber: 2, hsCode: '850440' }]);
    assert.deepEqual(co.issuer, { partyId: 'KR-KCS' });
  });

  it('moves the later rows up when one is removed', () => {
    const state = readForm({ items: '3', '/items/0/description': 'a', '/items/1/description': 'b', '/items/2/description': 'c' }, 'non-preferential');
    const after = removeItem(state, 1);
    assert.equal(after.items, 2);
    assert.deepEqual(after.values, { '/items/0/description': 'a', '/items/1/description': 'c' });
  });

  it('places each error at its field, the first field under it, or the nearest above it', () => {
    const state = readForm({ items: '1' }, 'preferential');
    const { byField, general } = placeErrors(
      [
        { pointer: '/items/0/hsCode', detail: 'bad' },
        { pointer: '/certification', detail: 'required' },
        { pointer: '/exporter/address/country/extra', detail: 'deep' },
        { pointer: '/recipient', detail: 'unknown' },
      ],
      state,
    );
    assert.deepEqual(byField.get('/items/0/hsCode'), ['bad']);
    assert.deepEqual(byField.get('/certification/place'), ['required']);
    assert.deepEqual(byField.get('/exporter/address/country'), ['deep']);
    assert.deepEqual(byField.get('/recipient'), ['unknown']);
    assert.deepEqual(general, []);
    assert.equal(fieldId('/items/0/hsCode'), 'f-items-0-hsCode');
  });
});

describe('sign-in throttle addresses', () => {
  it('counts an IPv6 address by its /64 and an IPv4 one (mapped or not) as it is', () => {
    assert.equal(throttledAddress('203.0.113.7'), '203.0.113.7');
    assert.equal(throttledAddress('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(throttledAddress('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
    assert.equal(throttledAddress('2001:db8:0:1::1'), throttledAddress('2001:0db8:0000:0001:ffff::2'));
    assert.equal(throttledAddress('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(throttledAddress('::1'), '0:0:0:0::/64');
    assert.notEqual(throttledAddress('2001:db8:0:1::1'), throttledAddress('2001:db8:0:2::1'));
  });
});
