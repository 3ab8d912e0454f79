// The web portal in a real headless Chromium: an issuer at A fills a CO with two items, sees a
// wrong HS code flagged at its field, fixes it and issues; the CO shows as accepted by B. A customs
// officer at B finds it, runs a declaration check and confirms the drawdown. A wrong password, a
// post without its CSRF token and a customs user on an issuer page are refused; axe-core finds no
// serious or critical violation on any page; each main page is saved as a screenshot (see SHOTS).
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { createUser } from '../../src/portal/index.ts';
import { readPdfCopy } from '../../src/seals/qr.ts';
import { assertAccessible, launchChromium } from '../support/browser.ts';
import { A, B, count, eventually, issueAndWait, type Pair, startPair } from '../support/gateways.ts';

const execFile = promisify(execFileCb);
// The README's screenshots are remade with ECO_SCREENSHOTS=docs (npm run screenshots); an
// ordinary run writes them to a temporary folder, so that `npm test` leaves the tree as it was.
const SHOTS = process.env.ECO_SCREENSHOTS === 'docs' ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : mkdtempSync(join(tmpdir(), 'eco-portal-shots-'));
const PASSWORD = 'correct horse battery staple';

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, url: string, username: string, password = PASSWORD): Promise<void> {
  await page.goto(`${url}/portal/sign-in`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit].primary');
}

describe('web portal in headless Chromium', () => {
  let pair: Pair;
  let browser: Browser;
  /** The issuer's page at A, signed in by the first test and reused by later ones. */
  let issuerPage: Page;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    pair = await startPair();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await pair?.stop();
  });

  it('issues a CO with two items at A (a wrong HS code flagged at its field), and clears it at B with a drawdown', async () => {
    // The first user, an admin, comes from the CLI, as an operator makes it; the admin makes the issuer.
    await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'user', 'create', '--name', 'admin.kr', '--roles', 'admin', '--display-name', 'Park Ji-ho'], {
      env: { ...process.env, DATABASE_URL: pair.placeA.databaseUrl, ECO_USER_PASSWORD: PASSWORD },
    });
    const adminPage = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await signIn(adminPage, pair.a.url!, 'admin.kr');
    await adminPage.waitForURL(/\/portal\/users$/);
    await adminPage.fill('#u-username', 'issuer.kr');
    await adminPage.fill('#u-displayName', 'Lee Seo-yeon');
    await adminPage.fill('#u-password', 'short');
    await adminPage.check('#u-role-issuer');
    await adminPage.click('form[aria-labelledby=create-title] button[type=submit]');
    await adminPage.waitForSelector('#u-password-error');
    await adminPage.fill('#u-password', PASSWORD);
    await adminPage.click('form[aria-labelledby=create-title] button[type=submit]');
    await adminPage.waitForSelector('#notice');
    await adminPage.waitForSelector('#users th:has-text("issuer.kr")');
    await assertAccessible(adminPage, 'users');
    await shot(adminPage, 'admin-users');
    const created = await pair.a.db.query<{ actor: string }>("SELECT actor FROM audit_log WHERE action = 'portal-user.created' ORDER BY id");
    assert.deepEqual(
      created.rows.map((r) => r.actor),
      ['cli', 'portal:admin.kr'],
    );
    await createUser(pair.b.db, { username: 'customs.vn', displayName: 'Nguyen Van An', roles: ['customs'], password: PASSWORD });

    issuerPage = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    const failures: string[] = [];
    issuerPage.on('pageerror', (error) => failures.push(error.message));

    // A wrong password is refused, and says so.
    await signIn(issuerPage, pair.a.url!, 'issuer.kr', 'not the password at all');
    await issuerPage.waitForSelector('#sign-in-error');
    await assertAccessible(issuerPage, 'sign-in (refused)');
    await shot(issuerPage, 'sign-in');
    assert.equal(await count(pair.a, "portal_sessions s JOIN portal_users u ON u.id = s.user_id WHERE u.username = 'issuer.kr'"), 0);

    await signIn(issuerPage, pair.a.url!, 'issuer.kr');
    await issuerPage.waitForURL(/\/portal\/certificates$/);
    await issuerPage.goto(`${pair.a.url}/portal/certificates/new?kind=preferential`);
    const number = `KR-P-${Date.now().toString(36).toUpperCase()}`;
    const fill = async (pointer: string, value: string) => issuerPage.fill(`#f${pointer.replace(/[^A-Za-z0-9]+/g, '-')}`, value);
    await fill('/number', number);
    await issuerPage.selectOption('#f-agreement', 'KR-VN-FTA');
    await fill('/issuer/name', 'Korea Customs Service');
    await fill('/exporter/name', 'Hanbit Power Electronics Co., Ltd.');
    await fill('/exporter/address/country', 'KR');
    await fill('/importer/name', 'Saigon Industrial Supply JSC');
    await fill('/importer/id', 'VN0312345678');
    await fill('/importCountry', 'VN');
    const today = new Date().toISOString().slice(0, 10);
    await fill('/certification/place', 'Seoul');
    await fill('/certification/date', today);
    await fill('/certification/signatory/name', 'Lee Seo-yeon');
    const item = async (i: number, values: Record<string, string>) => {
      for (const [field, value] of Object.entries(values)) await fill(`/items/${i}/${field}`, value);
    };
    await item(0, { description: 'Static converters (industrial inverters, 50 kW)', hsCode: '850440', originCountry: 'KR', originCriterion: 'PSR', 'quantity/value': '1200', 'quantity/unit': 'NAR' });
    await issuerPage.click('#add-item');
    await issuerPage.waitForSelector('#f-items-1-hsCode');
    assert.equal(await issuerPage.inputValue('#f-items-0-hsCode'), '850440', 'adding a row keeps what was typed');
    await item(1, { description: 'Transformer parts', hsCode: '85O4', originCountry: 'KR', originCriterion: 'CTH', 'quantity/value': '300', 'quantity/unit': 'KGM' });
    await issuerPage.click('#review');

    // The wrong HS code is flagged at its own field, nowhere else; nothing is issued.
    const hsError = await issuerPage.waitForSelector('#f-items-1-hsCode-error');
    assert.match((await hsError.textContent()) ?? '', /HS code/);
    assert.equal(await issuerPage.getAttribute('#f-items-1-hsCode', 'aria-invalid'), 'true');
    assert.equal(await issuerPage.getAttribute('#f-items-1-hsCode', 'aria-describedby'), 'f-items-1-hsCode-error');
    assert.equal(await issuerPage.locator('.field-error').count(), 1, 'one error, at the HS code');
    assert.equal(await count(pair.a, 'certificates'), 0);
    await assertAccessible(issuerPage, 'certificate form with an error');
    await shot(issuerPage, 'issuer-form-error');

    await fill('/items/1/hsCode', '850490');
    // Nothing is signed before the officer has seen what will be sent, to whom, under which agreement.
    await issuerPage.click('#review');
    await issuerPage.waitForSelector('#sign');
    assert.match((await issuerPage.textContent('#review-recipient')) ?? '', new RegExp(B));
    assert.match((await issuerPage.textContent('#review-agreement')) ?? '', /KR-VN-FTA/);
    assert.equal(await count(pair.a, 'certificates'), 0);
    await assertAccessible(issuerPage, 'review before signing');
    await shot(issuerPage, 'issuer-review');
    await issuerPage.click('#sign');
    await issuerPage.waitForSelector('#notice');
    assert.match((await issuerPage.textContent('#notice')) ?? '', new RegExp(`${number}.*${B}`));
    const { rows } = await pair.a.db.query<{ dataset: { items: { hsCode: string }[] } }>('SELECT dataset FROM certificates WHERE number = $1', [number]);
    assert.deepEqual(
      rows[0]!.dataset.items.map((i) => i.hsCode),
      ['850440', '850490'],
    );
    const audit = await pair.a.db.query<{ actor: string }>("SELECT actor FROM audit_log WHERE action = 'certificate.issued' AND subject = $1", [number]);
    assert.equal(audit.rows[0]?.actor, 'portal:issuer.kr', 'the change is audited with the user as actor');

    // The list shows it accepted by B once B's signed receipt is back.
    await eventually(async () => {
      await issuerPage.goto(`${pair.a.url}/portal/certificates`);
      const row = issuerPage.locator('#issued tr', { hasText: number });
      return /accepted by the importing party/.test((await row.textContent()) ?? '') ? true : undefined;
    }, 'the CO accepted by B in the list');
    await assertAccessible(issuerPage, 'issued list');
    await shot(issuerPage, 'issuer-list');
    await issuerPage.goto(`${pair.a.url}/portal/certificates/${number}`);
    await assertAccessible(issuerPage, 'issued certificate');
    const receipt = await issuerPage.request.get(`${pair.a.url}${await issuerPage.getAttribute('#deliveries a', 'href')}`);
    assert.equal(JSON.parse(Buffer.from((await receipt.text()).split('.')[1]!, 'base64url').toString()).body.status, 'accepted', "B's signed receipt");
    await shot(issuerPage, 'issuer-certificate');
    const download = await issuerPage.request.get(`${pair.a.url}/portal/certificates/${number}/jws`);
    assert.equal(download.headers()['content-type'], 'application/jose');
    assert.equal((await download.text()).split('.').length, 3, 'a compact JWS');
    // The printable copy the page links to: sealed, with the signed certificate attached.
    const printed = await readPdfCopy(Buffer.from(await (await issuerPage.request.get(`${pair.a.url}${await issuerPage.getAttribute('#print', 'href')}`)).body()));
    assert.match(printed.seal ?? '', /^ECO1:/);
    assert.ok(printed.certificateJws, 'certificate.jws attached');

    // Customs at B.
    const customsContext = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    const customsPage = await customsContext.newPage();
    customsPage.on('pageerror', (error) => failures.push(error.message));
    await signIn(customsPage, pair.b.url!, 'customs.vn');
    await customsPage.waitForURL(/\/portal\/received$/);
    await customsPage.waitForSelector(`#received th:has-text("${number}")`);
    await assertAccessible(customsPage, 'received list');
    await shot(customsPage, 'customs-received');
    await customsPage.goto(`${pair.b.url}/portal/lookup`);
    await assertAccessible(customsPage, 'look-up');
    await customsPage.fill('#lookup-number', number);
    await customsPage.click('button[type=submit].primary');
    await customsPage.waitForSelector('#summary');
    assert.equal(((await customsPage.textContent('#signature')) ?? '').trim(), 'verified');
    assert.match((await customsPage.textContent('#history')) ?? '', /1: valid/);
    await assertAccessible(customsPage, 'received certificate');
    await shot(customsPage, 'customs-certificate');

    // A claim without a declaration reference is refused at its field; nothing is checked.
    const declare = async (i: number, values: { hsCode: string; originCountry: string; quantity: string; unit: string }) => {
      for (const [field, value] of Object.entries(values)) await customsPage.fill(`#items-${i}-${field}`, value);
    };
    await declare(0, { hsCode: '850440', originCountry: 'KR', quantity: '1000', unit: 'NAR' });
    await customsPage.click('#run-check');
    await customsPage.waitForSelector('#declarationRef-error');
    assert.equal(await count(pair.b, 'clearance_checks'), 0);
    // The declared importer is not the CO's: a finding that refers the claim, which can still be drawn down.
    await customsPage.fill('#declarationRef', 'VN-DECL-0001');
    await customsPage.fill('#exportCountry', 'KR');
    await customsPage.fill('#importerId', 'VN9999999999');
    await declare(1, { hsCode: '850490', originCountry: 'KR', quantity: '300', unit: 'KGM' });
    await customsPage.click('#run-check');
    await customsPage.waitForSelector('#decision');
    assert.equal(((await customsPage.textContent('#decision')) ?? '').trim(), 'refer to an officer');
    assert.match((await customsPage.textContent('#findings')) ?? '', /IMPORTER_MISMATCH.*Saigon Industrial Supply JSC/s);
    await assertAccessible(customsPage, 'check result');
    await customsPage.click('#confirm');
    await customsPage.waitForSelector('#confirmed');
    await shot(customsPage, 'customs-check');
    assert.equal(await count(pair.b, 'utilizations WHERE number = $1', [number]), 2);
    const confirmed = await pair.b.db.query<{ actor: string }>("SELECT actor FROM audit_log WHERE action = 'clearance.confirmed'");
    assert.equal(confirmed.rows[0]?.actor, 'portal:customs.vn');

    // Refusals: a customs user on an issuer page; a form post without its CSRF token.
    const forbidden = await customsPage.goto(`${pair.b.url}/portal/certificates/new?kind=preferential`);
    assert.equal(forbidden?.status(), 403);
    await assertAccessible(customsPage, 'error page');
    const noToken = await issuerPage.request.post(`${pair.a.url}/portal/certificates/form`, { form: { kind: 'preferential', items: '1', action: 'save', '/number': 'KR-NO-CSRF' } });
    assert.equal(noToken.status(), 403);
    assert.equal(await count(pair.a, "portal_drafts WHERE number = 'KR-NO-CSRF'"), 0);
    const wrongToken = await issuerPage.request.post(`${pair.a.url}/portal/certificates/form`, { form: { _csrf: 'x'.repeat(43), kind: 'preferential', items: '1', action: 'save' } });
    assert.equal(wrongToken.status(), 403);
    // Text Postgres cannot keep is refused as the REST API refuses it (400), before any route sees it.
    const csrf = await issuerPage.getAttribute('input[name=_csrf]', 'value');
    const nul = await issuerPage.request.post(`${pair.a.url}/portal/certificates/form`, { form: { _csrf: csrf!, kind: 'preferential', items: '1', action: 'save', '/number': 'KR-NUL\u0000' } });
    assert.equal(nul.status(), 400);
    assert.match(await nul.text(), /cannot be accepted/);
    assert.equal(await count(pair.a, "portal_drafts WHERE number LIKE 'KR-NUL%'"), 0);
    const unknown = await customsPage.goto(`${pair.b.url}/portal/no-such-page`);
    assert.equal(unknown?.status(), 404);
    assert.match(unknown?.headers()['content-type'] ?? '', /text\/html/);

    // The Content-Security-Policy runs no script, not even one the page's DOM is given.
    const injected = await customsPage.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "yes"';
      document.body.appendChild(script);
      return document.body.dataset.injected ?? 'no';
    })()`);
    assert.equal(injected, 'no');

    // Customs asks the issuer to verify; the issuer answers it from its own portal.
    await customsPage.goto(`${pair.b.url}/portal/lookup?number=${number}`);
    // A copy of what B received: printable, not sealed (only the issuer can seal).
    const copy = await customsPage.request.get(`${pair.b.url}${await customsPage.getAttribute('#print', 'href')}`);
    assert.equal(copy.headers()['content-type'], 'application/pdf');
    assert.deepEqual(await readPdfCopy(Buffer.from(await copy.body())), { seal: undefined, certificateJws: undefined });
    await customsPage.fill('#reasons', 'Importer differs from the declaration');
    await customsPage.click('#request-verification');
    await customsPage.waitForSelector('#our-requests');
    await eventually(async () => {
      await issuerPage.goto(`${pair.a.url}/portal/verifications`);
      return (await issuerPage.locator('article', { hasText: number }).count()) ? true : undefined;
    }, 'the verification request at A');
    await assertAccessible(issuerPage, 'verification requests');
    await shot(issuerPage, 'issuer-verifications');
    await issuerPage.locator('article', { hasText: number }).getByLabel('partially confirmed').check();
    await issuerPage.locator('article', { hasText: number }).getByLabel('Findings').fill('The consignee changed after issue');
    await issuerPage.locator('article', { hasText: number }).getByRole('button', { name: 'Send the answer' }).click();
    await eventually(async () => {
      await customsPage.goto(`${pair.b.url}/portal/verifications`);
      return /partially confirmed: The consignee changed after issue/.test((await customsPage.textContent('#our-requests')) ?? '') ? true : undefined;
    }, 'the answer at B');
    assert.deepEqual(failures, []);
    assert.equal(A, pair.a.config.partyId);
  });

  it('saves and resumes a draft, removes an item row, speaks French, and fits a phone', async () => {
    await createUser(pair.a.db, { username: 'drafter', displayName: 'Kim Min-jun', roles: ['issuer'], password: PASSWORD });
    const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
    await signIn(phone, pair.a.url!, 'drafter');
    await phone.waitForURL(/\/portal\/certificates$/);
    await phone.goto(`${pair.a.url}/portal/certificates/new?kind=origin-declaration&lang=fr`);
    assert.equal(await phone.getAttribute('html', 'lang'), 'fr');
    await shot(phone, 'issuer-form-phone-fr');
    assert.ok(await phone.getByLabel("Numéro d'autorisation de l'exportateur").isVisible(), 'the fields of an origin declaration, labelled in French');
    await phone.fill('#f-number', 'KR-DRAFT-1');
    await phone.click('#add-item');
    await phone.fill('#f-items-0-description', 'first');
    await phone.fill('#f-items-1-description', 'second');
    await phone.click('button[value="remove:0"]');
    await phone.waitForFunction('document.querySelectorAll("fieldset.item").length === 1');
    assert.equal(await phone.inputValue('#f-items-0-description'), 'second', 'the rows after a removed one move up');
    await phone.click('#save');
    await phone.waitForSelector('#form-notice');
    await assertAccessible(phone, 'form on a phone, in French');
    await shot(phone, 'issuer-form-phone-fr');
    const width = (await phone.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= 390, `no horizontal scrolling on a phone (${width} px)`);

    await phone.goto(`${pair.a.url}/portal/drafts`);
    await assertAccessible(phone, 'drafts');
    await phone.getByRole('link', { name: 'KR-DRAFT-1' }).click();
    assert.equal(await phone.inputValue('#f-number'), 'KR-DRAFT-1');
    assert.equal(await phone.inputValue('#f-items-0-description'), 'second');
    assert.equal(await count(pair.a, "portal_drafts WHERE number = 'KR-DRAFT-1'"), 1);

    // Idle past the timeout: the session is over, and the next page asks to sign in again.
    await pair.a.db.query("UPDATE portal_sessions SET last_seen_at = now() - interval '31 minutes' WHERE user_id = (SELECT id FROM portal_users WHERE username = 'drafter')");
    await phone.goto(`${pair.a.url}/portal/drafts`);
    assert.match(phone.url(), /\/portal\/sign-in\?next=%2Fportal%2Fdrafts$/);
  });

  it('replaces a certificate (version 2) and cancels it from its page; B follows', async () => {
    const co = await issueAndWait(pair);
    await issuerPage.goto(`${pair.a.url}/portal/certificates/${co.number}/replace`);
    assert.equal(await issuerPage.inputValue('#f-items-0-quantity-value'), co.items[0]!.quantity.value, 'the form starts from the current version');
    await issuerPage.fill('#f-items-0-quantity-value', '1150');
    await issuerPage.click('#review');
    await issuerPage.click('#sign');
    await issuerPage.waitForSelector('#notice');
    assert.match((await issuerPage.textContent('#history')) ?? '', /2: valid.*1: replaced/s);
    await issuerPage.click('#cancel');
    await issuerPage.fill('#cancel-reason', 'Issued in error: consignment split');
    await issuerPage.click('#confirm-cancel');
    await issuerPage.waitForSelector('#notice');
    assert.match((await issuerPage.textContent('#status')) ?? '', /cancelled.*consignment split/s);
    await eventually(async () => {
      const { rows } = await pair.b.db.query<{ version: number; status: string }>('SELECT version, status FROM received_certificates WHERE number = $1 ORDER BY version', [co.number]);
      return rows.map((r) => `${r.version}:${r.status}`).join(',') === '1:replaced,2:cancelled' ? true : undefined;
    }, 'the replacement and the cancellation at B');
    const actors = await pair.a.db.query<{ action: string; actor: string }>("SELECT action, actor FROM audit_log WHERE subject = $1 AND action LIKE 'certificate.%' ORDER BY id", [co.number]);
    assert.deepEqual(
      actors.rows.map((r) => `${r.action} ${r.actor}`),
      [`certificate.issued api:tests#${actors.rows[0]!.actor.split('#')[1]}`, 'certificate.replaced portal:issuer.kr', 'certificate.cancelled portal:issuer.kr'],
    );
  });

  it('throttles repeated wrong passwords from one place, even the right one then', async () => {
    await createUser(pair.a.db, { username: 'guessed', displayName: 'Target', roles: ['issuer'], password: PASSWORD });
    const page = await browser.newPage();
    for (let i = 0; i < 5; i++) {
      await signIn(page, pair.a.url!, 'guessed', `wrong-${i}-password`);
      await page.waitForSelector('#sign-in-error');
    }
    await signIn(page, pair.a.url!, 'guessed');
    await page.waitForSelector('#sign-in-error');
    assert.match((await page.textContent('#sign-in-error')) ?? '', /too many attempts/);
    assert.equal(await count(pair.a, "audit_log WHERE action = 'portal.sign-in-throttled'"), 1);

    // Guessing across accounts from one address meets the per-address limit (last: it holds for a minute).
    await page.goto(`${pair.a.url}/portal/sign-in`);
    const token = (await page.getAttribute('input[name=_csrf]', 'value'))!;
    let status = 0;
    for (let i = 0; i < 40 && status !== 429; i++) {
      const response = await page.request.post(`${pair.a.url}/portal/sign-in`, { form: { _csrf: token, username: `someone${i}`, password: 'a guess of a password' } });
      status = response.status();
      if (status === 429) assert.match(await response.text(), /Too many attempts/);
      else assert.equal(status, 401);
    }
    assert.equal(status, 429);
  });
});
