// The portal's pure parts: the string catalogue is complete in both languages, and the form maps
// rows and errors to the fields they belong to.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { throttledAddress } from '../../src/http/index.ts';
import { fieldId, placeErrors, readForm, removeItem, toCertificate } from '../../src/portal/form.ts';
import { catalogue } from '../../src/portal/messages.ts';

describe('portal catalogue', () => {
  it('has every key in English and French, none left empty', () => {
    assert.deepEqual(Object.keys(catalogue.fr).sort(), Object.keys(catalogue.en).sort());
    for (const [lang, messages] of Object.entries(catalogue)) {
      for (const [key, text] of Object.entries(messages)) assert.ok(text.trim(), `${lang} ${key}`);
    }
  });

  it('has every key the templates and form name literally', () => {
    const views = new URL('../../src/portal/views/', import.meta.url);
    const sources = [
      ...readdirSync(views).map((f) => readFileSync(new URL(f, views), 'utf8')),
      ...['form.ts', 'pages-issuer.ts', 'pages-customs.ts', 'pages-account.ts'].map((f) => readFileSync(new URL(`../../src/portal/${f}`, import.meta.url), 'utf8')),
    ];
    const used = new Set(sources.flatMap((text) => [...text.matchAll(/\bt\('([a-zA-Z.-]*[a-zA-Z])'/g), ...text.matchAll(/'((?:field|section|form|users|signIn)\.[a-zA-Z]+)'/g)].map((m) => m[1]!)));
    assert.ok(used.size > 50, `found ${used.size} keys`);
    const missing = [...used].filter((key) => !(key in catalogue.en));
    assert.deepEqual(missing, []);
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
    assert.deepEqual(general, [{ pointer: '/recipient', detail: 'unknown' }]);
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
