// The portal as officers use it all day, in a real headless Chromium against two real gateways:
// one test per thing that went wrong in a day's use (issue 25), each of which failed on the code
// before its fix. Then every page, in every language, at a phone's 375 px and a desk's 1,366 px,
// through axe-core; the README's pictures are taken here in all three languages.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { takeNumber } from '../../src/certificates/numbering.ts';
import { withTransaction } from '../../src/db/index.ts';
import { createUser } from '../../src/portal/index.ts';
import { assertAccessible, launchChromium } from '../support/browser.ts';
import { A, api, B, count, eventually, exampleCertificate, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

const SHOTS = process.env.ECO_SCREENSHOTS === 'docs' ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : mkdtempSync(join(tmpdir(), 'eco-portal-day-'));
const PASSWORD = 'correct horse battery staple';
const LANGS = ['en', 'fr', 'es'] as const;
/** How many certificates A issues to B before the tests: more than one page (50) of the lists. */
const SEEDED = 55;
const seedNumber = (i: number) => `KR-DAY-${String(i).padStart(4, '0')}`;

describe('the portal as officers use it all day', () => {
  let pair: Pair;
  let browser: Browser;
  const today = new Date().toISOString().slice(0, 10);
  const year = today.slice(0, 4);

  async function page(width = 1366): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height: 900 }, isMobile: width < 500 });
    const p = await context.newPage();
    p.on('pageerror', (error) => assert.fail(`script error on ${p.url()}: ${error.message}`));
    return p;
  }
  async function signIn(p: Page, url: string, username: string, password = PASSWORD): Promise<void> {
    await p.goto(`${url}/portal/sign-in`);
    await p.fill('#username', username);
    await p.fill('#password', password);
    await Promise.all([p.waitForNavigation(), p.click('button[type=submit].primary')]);
  }
  async function signedIn(url: string, username: string, width = 1366): Promise<Page> {
    const p = await page(width);
    await signIn(p, url, username);
    return p;
  }
  const userId = async (gateway: Pair['a'], username: string) => (await gateway.db.query<{ id: string }>('SELECT id FROM portal_users WHERE username = $1', [username])).rows[0]!.id;
  /** An element's text, its line breaks and indentation made single spaces (no-break spaces kept: French needs them). */
  const text = async (p: Page, selector: string) => ((await p.textContent(selector)) ?? '').replace(/[ \t\r\n]+/g, ' ').trim();
  /** The certificate form's field for a JSON pointer. */
  const field = (pointer: string) => `#f${pointer.replace(/[^A-Za-z0-9]+/g, '-')}`;

  /** Fills a preferential CO for B, as an officer would; the number left to the caller. */
  async function fillCertificate(p: Page, values: Record<string, string> = {}): Promise<void> {
    const all: Record<string, string> = {
      '/issuer/name': 'Korea Customs Service',
      '/exporter/name': 'Hanbit Power Electronics Co., Ltd.',
      '/importCountry': 'VN',
      '/certification/place': 'Seoul',
      '/certification/date': today,
      '/certification/signatory/name': 'Lee Seo-yeon',
      '/items/0/description': 'Static converters',
      '/items/0/hsCode': '850440',
      '/items/0/originCountry': 'KR',
      '/items/0/originCriterion': 'PSR',
      '/items/0/quantity/value': '1200',
      '/items/0/quantity/unit': 'NAR',
      ...values,
    };
    await p.selectOption('#f-agreement', 'KR-VN-FTA');
    for (const [pointer, value] of Object.entries(all)) await p.fill(field(pointer), value);
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const lang of LANGS.filter((l) => l !== 'en')) mkdirSync(join(SHOTS, lang), { recursive: true });
    pair = await startPair();
    browser = await launchChromium();
    for (const [username, roles] of [
      ['officer.kr', ['issuer']],
      ['admin.kr', ['admin']],
      ['second.kr', ['issuer']],
    ] as const) {
      await createUser(pair.a.db, { username, displayName: username, roles: [...roles], password: PASSWORD });
    }
    await createUser(pair.b.db, { username: 'customs.vn', displayName: 'Nguyen Van An', roles: ['customs'], password: PASSWORD });
    await createUser(pair.b.db, { username: 'admin.vn', displayName: 'Tran Thi Mai', roles: ['admin'], password: PASSWORD });
    // More than a page of certificates, with exporters, importers and HS codes to search by.
    for (let i = 0; i < SEEDED; i += 11) {
      await Promise.all(
        Array.from({ length: Math.min(11, SEEDED - i) }, async (_, k) => {
          const n = i + k;
          const co = exampleCertificate({ number: seedNumber(n) });
          co.exporter = { ...co.exporter, name: n % 5 === 0 ? 'Hanbit Power Electronics' : 'Daesung Machinery' };
          co.importer = { ...co.importer!, name: n % 7 === 0 ? 'Mekong Trading Co' : 'Saigon Industrial Supply JSC' };
          co.items = co.items.map((item) => ({ ...item, hsCode: n % 11 === 0 ? '090111' : '850440' }));
          const r = await api(pair.a, 'POST', '/certificates', co);
          assert.equal(r.status, 201, JSON.stringify(r.body));
        }),
      );
    }
    await eventually(async () => ((await count(pair.b, "received_certificates WHERE number LIKE 'KR-DAY-%'")) === SEEDED ? true : undefined), 'every seeded CO at B', 60_000);
  });
  after(async () => {
    await browser?.close();
    await pair?.stop();
  });

  it('keeps what was typed when the session ends before it is saved, and opens it again after signing in', async () => {
    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    await p.fill(field('/exporter/name'), 'Typed Before The Timeout Co.');
    await p.fill(field('/remarks'), 'half a morning of work');
    // 31 minutes idle: the session is over, but the browser still holds its cookie and the form its token.
    await pair.a.db.query("UPDATE portal_sessions SET last_seen_at = now() - interval '31 minutes' WHERE user_id = $1", [await userId(pair.a, 'officer.kr')]);
    await Promise.all([p.waitForURL(/\/portal\/sign-in\?/), p.click('#save')]);
    assert.ok(await p.isVisible('#kept-notice'), 'the sign-in page says the work was kept');
    await p.fill('#username', 'officer.kr');
    await p.fill('#password', PASSWORD);
    await Promise.all([p.waitForURL(/\/portal\/drafts\/[0-9a-f-]{36}\?kept=1$/), p.click('button[type=submit].primary')]);
    assert.equal(await p.inputValue(field('/exporter/name')), 'Typed Before The Timeout Co.');
    assert.equal(await p.inputValue(field('/remarks')), 'half a morning of work');
    assert.equal(await count(pair.a, "audit_log WHERE action = 'portal.draft-kept' AND actor = 'portal:officer.kr'"), 1);
  });

  it('saves the form as a draft while the officer types, without a button pressed', async () => {
    const p = await signedIn(pair.a.url!, 'second.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=non-preferential`);
    await p.fill(field('/exporter/name'), 'Saved Without Asking Ltd');
    const saved = await eventually(
      async () => {
        const { rows } = await pair.a.db.query<{ name: string }>("SELECT fields->'values'->>'/exporter/name' AS name FROM portal_drafts WHERE owner = $1", [await userId(pair.a, 'second.kr')]);
        return rows[0]?.name;
      },
      'the draft saved by the page',
      15_000,
    );
    assert.equal(saved, 'Saved Without Asking Ltd');
    // The page carries the draft's id from then on: the next save updates that draft, not a new one.
    await p.fill(field('/remarks'), 'more');
    await p.click('#save');
    await p.waitForSelector('#form-notice');
    assert.equal(await count(pair.a, 'portal_drafts WHERE owner = $1', [await userId(pair.a, 'second.kr')]), 1);
  });

  it('pages both lists with a count and a sort: nothing older than the first page vanishes', async () => {
    const p = await signedIn(pair.b.url!, 'customs.vn');
    await p.goto(`${pair.b.url}/portal/received?number=KR-DAY`);
    assert.match(await text(p, '#result-count'), new RegExp(`${SEEDED} found`));
    assert.equal(await p.locator('#received tbody tr').count(), 50);
    await Promise.all([p.waitForNavigation(), p.click('#page-next')]);
    assert.equal(await p.locator('#received tbody tr').count(), SEEDED - 50);
    await p.goto(`${pair.b.url}/portal/received?number=KR-DAY&sort=number`);
    assert.equal(await text(p, '#received tbody tr:first-child th'), seedNumber(0));
    const issuer = await signedIn(pair.a.url!, 'officer.kr');
    await issuer.goto(`${pair.a.url}/portal/certificates?number=KR-DAY&sort=number&page=2`);
    assert.match(await text(issuer, '#result-count'), new RegExp(`${SEEDED} found`));
    assert.equal(await text(issuer, '#issued tbody tr:first-child th'), seedNumber(50));
    // The verification requests are counted and paged too.
    await issuer.goto(`${pair.a.url}/portal/verifications`);
    assert.match(await text(issuer, '#answer-result-count'), /^\d+ found/);
  });

  it('searches received certificates by number, exporter, importer, issuer, HS code and dates, and says when a filter cannot be used', async () => {
    const p = await signedIn(pair.b.url!, 'customs.vn');
    const found = async (query: string) => {
      await p.goto(`${pair.b.url}/portal/received?${query}`);
      return Number(/(\d+) found/.exec(await text(p, '#result-count'))?.[1]);
    };
    assert.equal(await found('number=kr-day-001'), 10, 'number: partial, any case');
    assert.equal(await found('number=KR-DAY&exporter=hanbit'), 11);
    assert.equal(await found('number=KR-DAY&importer=MEKONG'), 8);
    assert.equal(await found('number=KR-DAY&hsCode=0901'), 5, 'an HS heading finds its codes');
    assert.equal(await found('number=KR-DAY&party=kr-kcs'), SEEDED, 'the issuer filter is used, whatever its case');
    assert.equal(await found(`number=KR-DAY&from=${today}&to=${today}`), SEEDED);
    assert.equal(await found(`number=KR-DAY&to=2000-01-01`), 0);
    assert.equal(await found('number=KR-DAY&status=cancelled'), 0);
    await p.goto(`${pair.b.url}/portal/received?from=${today}&to=2000-01-01`);
    assert.ok(await p.isVisible('#q-to-error'), 'a period that ends before it starts is said, not shown as nothing found');
    await p.goto(`${pair.b.url}/portal/received?party=nobody`);
    assert.ok(await p.isVisible('#q-party-error'), 'a party that cannot be one is said at its field, never silently ignored');
    assert.equal(await p.getAttribute('#q-party', 'aria-invalid'), 'true');
  });

  it('finds a certificate by its number whatever the case of its letters', async () => {
    const p = await signedIn(pair.b.url!, 'customs.vn');
    await p.goto(`${pair.b.url}/portal/lookup?number=${seedNumber(3).toLowerCase()}`);
    await p.waitForSelector('#summary');
    assert.match(await text(p, 'h1'), new RegExp(seedNumber(3)));
  });

  it('speaks French and Spanish throughout: validation, findings, risk flags, dates, numbers, a decimal comma', async () => {
    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential&lang=fr`);
    await fillCertificate(p, { '/number': 'KR-FR-0001', '/items/0/quantity/value': '350,5', '/items/0/hsCode': '12' });
    await p.click('#review');
    await p.waitForSelector('#f-items-0-hsCode-error');
    const hsError = await text(p, '#f-items-0-hsCode-error');
    assert.doesNotMatch(hsError, /must be/, 'the schema speaks French');
    assert.match(hsError, /SH/);
    assert.equal(await p.locator('#f-items-0-quantity-value-error').count(), 0, '"350,5" is a quantity in French');
    assert.match(await text(p, '#error-summary-title'), /\u00a0:/, 'a no-break space before the colon');
    await p.fill(field('/items/0/hsCode'), '850440');
    await p.click('#review');
    await p.waitForSelector('#sign');
    assert.match(await text(p, '#review-items'), /350,5/);
    await p.click('#sign');
    await p.waitForSelector('#notice');
    const stored = await pair.a.db.query<{ value: string }>("SELECT dataset->'items'->0->'quantity'->>'value' AS value FROM certificates WHERE number = 'KR-FR-0001'");
    assert.equal(stored.rows[0]?.value, '350.5');
    assert.match(await text(p, '#history'), /UTC/);
    assert.match(await text(p, '#summary'), new RegExp(`\\d{1,2} \\S+ ${year}`), 'dates the French way');

    // Customs at B, in Spanish: the findings of a check and the risk flags are Spanish too.
    const customs = await signedIn(pair.b.url!, 'customs.vn');
    await eventually(async () => ((await count(pair.b, "received_certificates WHERE number = 'KR-FR-0001'")) ? true : undefined), 'the CO at B');
    await customs.goto(`${pair.b.url}/portal/lookup?number=KR-FR-0001&lang=es`);
    assert.equal(await customs.getAttribute('html', 'lang'), 'es');
    await customs.fill('#declarationRef', 'VN-ES-1');
    await customs.fill('#exportCountry', 'República de Corea');
    for (const [name, value] of Object.entries({ hsCode: '020110', originCountry: 'KR', quantity: '10,5', unit: 'NAR' })) await customs.fill(`#items-0-${name}`, value);
    await Promise.all([customs.waitForURL(/\/portal\/checks\//), customs.click('#run-check')]);
    const findings = await text(customs, '#findings');
    assert.match(findings, /HS_MISMATCH/);
    assert.doesNotMatch(findings, /the CO item is/, 'the finding in Spanish, not English');
  });

  it('asks Customs for what the declaration says, not the certificate, and shows what is left to draw down', async () => {
    const co = await issueAndWait(pair);
    const p = await signedIn(pair.b.url!, 'customs.vn');
    await p.goto(`${pair.b.url}/portal/lookup?number=${co.number}`);
    for (const name of ['hsCode', 'originCountry', 'unit', 'quantity']) assert.equal(await p.inputValue(`#items-0-${name}`), '', `${name} starts empty`);
    assert.equal(await p.inputValue('#exportCountry'), '');
    assert.match(await text(p, '#items-0-left'), /1,200 NAR/);
    // A wrong declared origin is said at the origin field, not at the quantity's.
    await p.fill('#declarationRef', 'VN-LEFT-0');
    for (const [name, value] of Object.entries({ hsCode: '850440', originCountry: 'Narnia', quantity: '1', unit: 'NAR' })) await p.fill(`#items-0-${name}`, value);
    await p.fill('#exportCountry', 'KR');
    await p.click('#run-check');
    await p.waitForSelector('#items-0-originCountry-error');
    assert.equal(await p.locator('#items-0-quantity-error').count(), 0);
    assert.doesNotMatch(await text(p, '.summary'), /\^\[A-Z\]/, 'no regular expression shown');
    await p.fill('#declarationRef', 'VN-LEFT-1');
    for (const [name, value] of Object.entries({ hsCode: '850440', originCountry: 'KR', quantity: '200', unit: 'NAR' })) await p.fill(`#items-0-${name}`, value);
    await p.fill('#exportCountry', 'KR');
    await Promise.all([p.waitForURL(/\/portal\/checks\//), p.click('#run-check')]);
    await Promise.all([p.waitForNavigation(), p.click('#confirm')]);
    await p.goto(`${pair.b.url}/portal/lookup?number=${co.number}`);
    assert.match(await text(p, '#items-0-left'), /1,000 NAR/);
    assert.match(await text(p, '#items .remaining'), /1,000 NAR/);
  });

  it('names fields, never JSON pointers, in error summaries; a number already issued is flagged at its field', async () => {
    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    await fillCertificate(p, { '/number': seedNumber(1), '/items/0/quantity/value': 'lots' });
    await p.click('#review');
    await p.waitForSelector('#error-summary-title');
    assert.doesNotMatch(await text(p, '.summary'), /\/(items|number|quantity)\b/, 'no raw pointer');
    assert.match(await text(p, '.summary'), /Item 1: Quantity/);
    await p.fill(field('/items/0/quantity/value'), '5');
    await p.click('#review');
    await p.waitForSelector('#f-number-error');
    assert.match(await text(p, '#f-number-error'), new RegExp(`${seedNumber(1)} has already been issued`));

    const customs = await signedIn(pair.b.url!, 'customs.vn');
    await customs.goto(`${pair.b.url}/portal/lookup?number=${seedNumber(2)}`);
    await customs.click('#request-verification');
    await customs.waitForSelector('#reasons-error');
    assert.doesNotMatch(await text(customs, '.summary'), /\/reasons/);
  });

  it('shows what will be signed, to whom and under which agreement before signing, and asks before cancelling', async () => {
    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    await fillCertificate(p, { '/number': 'KR-REVIEW-1' });
    await p.click('#review');
    await p.waitForSelector('#sign');
    assert.equal(await count(pair.a, "certificates WHERE number = 'KR-REVIEW-1'"), 0, 'nothing is signed by the form');
    assert.match(await text(p, '#review-recipient'), new RegExp(B));
    assert.match(await text(p, '#review-agreement'), /KR-VN-FTA/);
    assert.match(await text(p, '#review-signatory'), /Seoul.*Lee Seo-yeon/, 'who certifies, as it will be signed');
    // Back to the form keeps everything; a second review and sign issue once.
    await Promise.all([p.waitForNavigation(), p.click('#edit')]);
    assert.equal(await p.inputValue(field('/number')), 'KR-REVIEW-1');
    await p.click('#review');
    const digest = (await p.getAttribute('input[name=digest]', 'value'))!;
    const draft = (await p.getAttribute('input[name=draft]', 'value'))!;
    const csrf = (await p.getAttribute('input[name=_csrf]', 'value'))!;
    await Promise.all([p.waitForNavigation(), p.click('#sign')]);
    // A second press of Sign (a double click, a resubmitted page) sends nothing more; nor does a
    // stale tab that saves the signed draft again under its old id, then signs its old review.
    const again = await p.request.post(`${pair.a.url}/portal/certificates/confirm`, { form: { _csrf: csrf, draft, digest } });
    assert.equal(again.status(), 200);
    const stale = await p.request.post(`${pair.a.url}/portal/certificates/form`, { form: { _csrf: csrf, kind: 'preferential', items: '1', action: 'save', draft, '/number': 'KR-REVIEW-1' } });
    assert.equal(stale.status(), 200);
    await p.request.post(`${pair.a.url}/portal/certificates/confirm`, { form: { _csrf: csrf, draft, digest } });
    assert.equal(await count(pair.a, 'portal_drafts WHERE id = $1', [draft]), 0, 'a signed draft never comes back under its id');
    assert.equal(await count(pair.a, "certificates WHERE number = 'KR-REVIEW-1'"), 1);

    await p.click('#cancel');
    await p.waitForSelector('#cancel-warning');
    await Promise.all([p.waitForNavigation(), p.click('#keep')]);
    assert.match(await text(p, '#status'), /valid/);
    await p.click('#cancel');
    await p.click('#confirm-cancel');
    await p.waitForSelector('#cancel-error');
    assert.equal(await count(pair.a, "certificates WHERE number = 'KR-REVIEW-1' AND status = 'cancelled'"), 0, 'no reason, no cancellation');
  });

  it('follows the delivery without a reload, says its times are UTC, and names message types in words', async () => {
    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    await fillCertificate(p, { '/number': 'KR-LIVE-1' });
    // B is slow for a moment (its inbox locked), so that the page opens before the receipt is in.
    const hold = await pair.b.db.connect();
    await hold.query('BEGIN');
    await hold.query('LOCK TABLE inbox IN SHARE MODE');
    await p.click('#review');
    await Promise.all([p.waitForURL(/\/portal\/certificates\/KR-LIVE-1\?/), p.click('#sign')]);
    assert.doesNotMatch(await text(p, '#deliveries'), /accepted/);
    await p.evaluate('window.stillTheSamePage = true');
    await hold.query('COMMIT');
    hold.release();
    await p.waitForSelector('#deliveries td.delivery-accepted', { timeout: 20_000 });
    assert.equal(await p.evaluate('window.stillTheSamePage'), true, 'no reload');
    assert.match(await text(p, '#deliveries tbody tr:first-child'), /certificate issued/);
    assert.doesNotMatch(await text(p, '#deliveries'), /certificate\.issued/);
    assert.match(await text(p, '#deliveries tbody tr:first-child'), /UTC/);
  });

  it('numbers certificates from the pattern an administrator sets, reads country names, and refuses HS chapter 00', async () => {
    const admin = await signedIn(pair.a.url!, 'admin.kr');
    await admin.goto(`${pair.a.url}/portal/numbering`);
    await admin.fill('#pattern', 'KR-{seq:4}');
    await admin.click('button[type=submit].primary');
    await admin.waitForSelector('#pattern-error');
    await admin.fill('#pattern', 'KR-{yyyy}-{seq:6}');
    await admin.click('button[type=submit].primary');
    await admin.waitForSelector('#notice');

    const p = await signedIn(pair.a.url!, 'officer.kr');
    await p.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    assert.match(await text(p, '#f-number-hint'), new RegExp(`KR-${year}-000001`));
    await fillCertificate(p, { '/importCountry': 'Viet Nam', '/items/0/originCountry': 'South Korea', '/items/0/hsCode': '000000' });
    await p.click('#review');
    await p.waitForSelector('#f-items-0-hsCode-error');
    assert.match(await text(p, '#f-items-0-hsCode-error'), /chapter/);
    assert.equal(await p.inputValue(field('/importCountry')), 'Viet Nam', 'a country name is kept as typed, never cut to "Vi"');
    await p.fill(field('/items/0/hsCode'), '850440');
    await p.click('#review');
    await p.waitForSelector('#sign');
    await Promise.all([p.waitForURL(new RegExp(`/portal/certificates/KR-${year}-000001\\?`)), p.click('#sign')]);
    const { rows } = await pair.a.db.query<{ importCountry: string; origin: string }>(
      `SELECT dataset->>'importCountry' AS "importCountry", dataset->'items'->0->>'originCountry' AS origin FROM certificates WHERE number = $1`,
      [`KR-${year}-000001`],
    );
    assert.deepEqual(rows[0], { importCountry: 'VN', origin: 'KR' });
  });

  it('gives numbers without a gap or a repeat when many issue at once, and a rolled-back issue gives its number back', async () => {
    await pair.a.db.query(
      "INSERT INTO certificate_numbering (issuer_party, pattern, updated_by) VALUES ($1, 'GAP-{yy}-{seq:3}', 'test') ON CONFLICT (issuer_party) DO UPDATE SET pattern = EXCLUDED.pattern",
      [A],
    );
    // A number taken by an issue that then fails is given back: the next issue of that year gets it.
    await assert.rejects(
      withTransaction(pair.a.db, async (client) => {
        assert.equal(await takeNumber(client, A, 2031), 'GAP-31-001');
        throw new Error('the issue failed after its number was taken');
      }),
      /the issue failed/,
    );
    await withTransaction(pair.a.db, async (client) => assert.equal(await takeNumber(client, A, 2031), 'GAP-31-001'));
    // Twelve issues at once in the year of the example's issue date (the counter of that year cleared first).
    const template = exampleCertificate();
    const issueYear = Number(template.issuedAt.slice(0, 4));
    await pair.a.db.query('DELETE FROM certificate_number_counters WHERE issuer_party = $1 AND year = $2', [A, issueYear]);
    const numbers = await Promise.all(Array.from({ length: 12 }, async () => (await pair.a.certificates.issue({ ...template, number: 'STAND-IN' }, { assignNumber: true })).result.number));
    const yy = String(issueYear % 100).padStart(2, '0');
    assert.deepEqual(
      numbers.sort(),
      Array.from({ length: 12 }, (_, i) => `GAP-${yy}-${String(i + 1).padStart(3, '0')}`),
    );
    await pair.a.db.query('DELETE FROM certificate_numbering WHERE issuer_party = $1', [A]);
    await withTransaction(pair.a.db, async (client) => {
      await assert.rejects(takeNumber(client, A, 2031), /no numbering pattern/);
    });
  });

  it('lets an administrator change roles, set a temporary password, lift sign-in waits and read the audit log, filtered and as CSV', async () => {
    await createUser(pair.a.db, { username: 'moved.kr', displayName: 'Moved Officer', roles: ['issuer'], password: PASSWORD });
    const admin = await signedIn(pair.a.url!, 'admin.kr');
    await admin.goto(`${pair.a.url}/portal/users`);
    const card = admin.locator('#user-moved\\.kr');
    await card.locator('summary').click();
    await card.getByLabel('customs').check();
    await card.getByLabel('issuer').uncheck();
    await Promise.all([admin.waitForNavigation(), card.getByRole('button', { name: 'Save the roles' }).click()]);
    assert.match(await text(admin, '#notice'), /roles of moved\.kr/);
    assert.deepEqual((await pair.a.db.query<{ roles: string[] }>("SELECT roles FROM portal_users WHERE username = 'moved.kr'")).rows[0]!.roles, ['customs']);

    // A temporary password: the user's sessions end, and the next sign-in leads to a new password first.
    const user = await signedIn(pair.a.url!, 'moved.kr');
    await admin.locator('#user-moved\\.kr summary').click();
    await admin.locator('#user-moved\\.kr input[type=password]').fill('temporary password 1');
    await Promise.all([admin.waitForNavigation(), admin.locator('#user-moved\\.kr').getByRole('button', { name: 'Set the temporary password' }).click()]);
    await user.goto(`${pair.a.url}/portal/received`);
    assert.match(user.url(), /sign-in/, 'the old session ended');
    await signIn(user, pair.a.url!, 'moved.kr', 'temporary password 1');
    assert.match(user.url(), /\/portal\/password$/);
    await user.goto(`${pair.a.url}/portal/received`);
    assert.match(user.url(), /\/portal\/password$/, 'nothing opens before the password is changed');
    await user.fill('#pw-current', 'temporary password 1');
    await user.fill('#pw-password', 'my own new passphrase');
    await user.fill('#pw-confirm', 'my own new passphrase');
    await Promise.all([user.waitForNavigation(), user.click('#change-password')]);
    await user.goto(`${pair.a.url}/portal/received`);
    assert.match(user.url(), /\/portal\/received$/);

    // Five wrong guesses from this place make the user wait; the administrator lifts it.
    const guesser = await page();
    for (let i = 0; i < 5; i++) await signIn(guesser, pair.a.url!, 'moved.kr', `wrong guess ${i} wrong`);
    await signIn(guesser, pair.a.url!, 'moved.kr', 'my own new passphrase');
    assert.ok(await guesser.isVisible('#sign-in-error'), 'waiting');
    await admin.goto(`${pair.a.url}/portal/users`);
    await admin.locator('#user-moved\\.kr summary').click();
    await Promise.all([
      admin.waitForNavigation(),
      admin
        .locator('#user-moved\\.kr')
        .getByRole('button', { name: /Lift sign-in waits/ })
        .click(),
    ]);
    await signIn(guesser, pair.a.url!, 'moved.kr', 'my own new passphrase');
    assert.match(guesser.url(), /\/portal\/received$/);

    // A disabled user's attempt is audited as such, not as an unknown user.
    await pair.a.db.query("UPDATE portal_users SET status = 'disabled' WHERE username = 'moved.kr'");
    await signIn(await page(), pair.a.url!, 'moved.kr', 'my own new passphrase');
    const { rows: failed } = await pair.a.db.query<{ reason: string }>(
      "SELECT data->>'reason' AS reason FROM audit_log WHERE action = 'portal.sign-in-failed' AND actor = 'portal:moved.kr' ORDER BY id DESC LIMIT 1",
    );
    assert.equal(failed[0]?.reason, 'disabled user');

    await admin.goto(`${pair.a.url}/portal/audit?actor=${encodeURIComponent('portal:admin.kr')}&action=portal-user.roles-changed`);
    assert.equal(await admin.locator('#audit tbody tr').count(), 1);
    assert.match(await text(admin, '#audit'), /before\["issuer"\]/);
    assert.match(await text(admin, '#audit'), /after\["customs"\]/);
    const csv = await admin.request.get(`${pair.a.url}${await admin.getAttribute('#audit-csv', 'href')}`);
    assert.match(csv.headers()['content-type'] ?? '', /text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines[0], 'id,at,actor,action,subject,data,position,hash');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /portal:admin\.kr,portal-user\.roles-changed/);
  });

  it('reports monthly counts per partner, agreement and status, on screen and as CSV', async () => {
    const p = await signedIn(pair.a.url!, 'admin.kr');
    await p.goto(`${pair.a.url}/portal/reports`);
    const month = today.slice(0, 7);
    const row = p.locator('#report tbody tr', { hasText: month }).filter({ hasText: B }).filter({ hasText: 'KR-VN-FTA' });
    const issued = Number((await row.locator('[data-measure=issued]').textContent())?.replace(/\D/g, ''));
    assert.equal(issued, await count(pair.a, "certificates WHERE version = 1 AND agreement = 'KR-VN-FTA'"));
    const accepted = Number((await row.locator('[data-measure=accepted]').textContent())?.replace(/\D/g, ''));
    assert.ok(accepted <= issued, `accepted (${accepted}) never more than issued (${issued}): replacements' receipts are not counted`);
    const csv = await (await p.request.get(`${pair.a.url}${await p.getAttribute('#report-csv', 'href')}`)).text();
    assert.match(csv.split('\r\n')[0]!, /^month,partner,agreement,issued,accepted,rejected,cancelled,received,checked,drawn-down$/);
    assert.match(csv, new RegExp(`${month},${B},KR-VN-FTA,${issued},`));
    const customs = await signedIn(pair.b.url!, 'customs.vn');
    await customs.goto(`${pair.b.url}/portal/reports`);
    const received = customs.locator('#report tbody tr', { hasText: month }).filter({ hasText: A }).filter({ hasText: 'KR-VN-FTA' });
    assert.ok(Number((await received.locator('[data-measure=checked]').textContent())?.replace(/\D/g, '')) >= 2, 'the checks made at B');
    assert.ok(Number((await received.locator('[data-measure=drawn-down]').textContent())?.replace(/\D/g, '')) >= 1);
  });

  it('stacks tables into cards on a 375 px phone: nothing scrolls sideways, delivery and quantity in view', async () => {
    const phone = await signedIn(pair.a.url!, 'officer.kr', 375);
    for (const path of ['/portal/certificates', `/portal/certificates/${seedNumber(0)}`]) {
      await phone.goto(`${pair.a.url}${path}`);
      assert.ok(((await phone.evaluate('document.documentElement.scrollWidth')) as number) <= 375, `${path}: no horizontal scrolling`);
    }
    await phone.goto(`${pair.a.url}/portal/certificates`);
    const delivery = await phone.locator('#issued tbody tr:first-child td[class^=delivery]').boundingBox();
    assert.ok(delivery && delivery.x >= 0 && delivery.x + delivery.width <= 375, 'the delivery column is on screen');
    const customs = await signedIn(pair.b.url!, 'customs.vn', 375);
    await customs.goto(`${pair.b.url}/portal/lookup?number=${seedNumber(4)}`);
    const quantity = await customs.locator('#items tbody tr:first-child td').nth(4).boundingBox();
    assert.ok(quantity && quantity.x + quantity.width <= 375, 'the quantity is on screen');
    assert.ok(((await customs.evaluate('document.documentElement.scrollWidth')) as number) <= 375);
  });

  it('has no serious accessibility fault on any page, in any language, at 375 and 1,366 px (and takes the README pictures)', async () => {
    const co = seedNumber(5);
    const { rows: checks } = await pair.b.db.query<{ id: string }>('SELECT id FROM clearance_checks ORDER BY created_at LIMIT 1');
    const pages: { url: string; user?: string; path: string; shot?: string }[] = [
      { url: pair.a.url!, path: '/portal/sign-in', shot: 'sign-in' },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/certificates?number=KR-DAY', shot: 'issuer-list' },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/certificates/new' },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/certificates/new?kind=origin-declaration' },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/drafts' },
      { url: pair.a.url!, user: 'officer.kr', path: `/portal/certificates/${co}`, shot: 'issuer-certificate' },
      { url: pair.a.url!, user: 'officer.kr', path: `/portal/certificates/${co}/cancel` },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/verifications', shot: 'issuer-verifications' },
      { url: pair.a.url!, user: 'officer.kr', path: '/portal/password' },
      { url: pair.a.url!, user: 'admin.kr', path: '/portal/users', shot: 'admin-users' },
      { url: pair.a.url!, user: 'admin.kr', path: '/portal/audit' },
      { url: pair.a.url!, user: 'admin.kr', path: '/portal/numbering' },
      { url: pair.a.url!, user: 'admin.kr', path: '/portal/reports', shot: 'reports' },
      { url: pair.b.url!, user: 'customs.vn', path: '/portal/received?number=KR-DAY', shot: 'customs-received' },
      { url: pair.b.url!, user: 'customs.vn', path: '/portal/received?party=nobody' },
      { url: pair.b.url!, user: 'customs.vn', path: '/portal/lookup' },
      { url: pair.b.url!, user: 'customs.vn', path: `/portal/lookup?number=${co}`, shot: 'customs-certificate' },
      { url: pair.b.url!, user: 'customs.vn', path: `/portal/checks/${checks[0]!.id}`, shot: 'customs-check' },
    ];
    for (const width of [375, 1366]) {
      const sessions = new Map<string, Page>();
      for (const lang of LANGS) {
        for (const entry of pages) {
          const key = `${entry.url} ${entry.user ?? ''}`;
          let p = sessions.get(key);
          if (!p) {
            p = entry.user ? await signedIn(entry.url, entry.user, width) : await page(width);
            sessions.set(key, p);
          }
          await p.goto(`${entry.url}${entry.path}${entry.path.includes('?') ? '&' : '?'}lang=${lang}`);
          assert.equal(await p.getAttribute('html', 'lang'), lang);
          await assertAccessible(p, `${entry.path} in ${lang} at ${width} px`);
          if (width === 1366 && entry.shot) await p.screenshot({ path: join(SHOTS, lang === 'en' ? '' : lang, `${entry.shot}.png`), fullPage: true });
        }
        // The form refused, with its errors at their fields; then the review before signing.
        const form = sessions.get(`${pair.a.url} officer.kr`)!;
        await form.goto(`${pair.a.url}/portal/certificates/new?kind=preferential&lang=${lang}`);
        await form.click('#review');
        await form.waitForSelector('#error-summary-title');
        await assertAccessible(form, `form with errors in ${lang} at ${width} px`);
        if (width === 1366) await form.screenshot({ path: join(SHOTS, lang === 'en' ? '' : lang, 'issuer-form-error.png'), fullPage: true });
        await fillCertificate(form, { '/number': `KR-AXE-${lang}-${width}` });
        await form.click('#review');
        await form.waitForSelector('#sign');
        await assertAccessible(form, `review in ${lang} at ${width} px`);
        if (width === 1366) await form.screenshot({ path: join(SHOTS, lang === 'en' ? '' : lang, 'issuer-review.png'), fullPage: true });
      }
    }
  });
});
