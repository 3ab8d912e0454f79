// The web portal in a real headless Chromium: an issuer at A fills a CO with two items, sees a
// wrong HS code flagged at its field, fixes it and issues; the CO shows as accepted by B. A customs
// officer at B finds it, runs a declaration check and confirms the drawdown. A wrong password, a
// post without its CSRF token and a customs user on an issuer page are refused; axe-core finds no
// serious or critical violation on any page; each main page is saved to docs/screenshots/.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createUser } from '../../src/portal/index.ts';
import { A, B, count, eventually, type Pair, startPair } from '../support/gateways.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const execFile = promisify(execFileCb);
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = new URL('../../docs/screenshots/', import.meta.url);
const PASSWORD = 'correct horse battery staple';

type AxeViolation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] };

/** axe-core, injected from node_modules (no CDN), on the page as it is: no serious or critical violation. */
async function assertAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(axeSource);
  const violations = (await page.evaluate('axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }).then((r) => r.violations)')) as AxeViolation[];
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `accessibility of ${what}`,
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true });
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
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    pair = await startPair();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await pair?.stop();
  });

  it('issues a CO with two items at A (a wrong HS code flagged at its field), and clears it at B with a drawdown', async () => {
    // The first user comes from the CLI, as an operator makes it; the others from createUser.
    await execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'user', 'create', '--name', 'issuer.kr', '--roles', 'issuer', '--display-name', 'Lee Seo-yeon'], {
      env: { ...process.env, DATABASE_URL: pair.placeA.databaseUrl, ECO_USER_PASSWORD: PASSWORD },
    });
    await createUser(pair.b.db, { username: 'customs.vn', displayName: 'Nguyen Van An', roles: ['customs'], password: PASSWORD });

    const issuerPage = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    const failures: string[] = [];
    issuerPage.on('pageerror', (error) => failures.push(error.message));

    // A wrong password is refused, and says so.
    await signIn(issuerPage, pair.a.url!, 'issuer.kr', 'not the password at all');
    await issuerPage.waitForSelector('#sign-in-error');
    await assertAccessible(issuerPage, 'sign-in (refused)');
    await shot(issuerPage, 'sign-in');
    assert.equal(await count(pair.a, 'portal_sessions'), 0);

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
    await issuerPage.click('#issue');

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
    await issuerPage.click('#issue');
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
    await shot(issuerPage, 'issuer-certificate');
    const download = await issuerPage.request.get(`${pair.a.url}/portal/certificates/${number}/jws`);
    assert.equal(download.headers()['content-type'], 'application/jose');
    assert.equal((await download.text()).split('.').length, 3, 'a compact JWS');

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
    await customsPage.fill('#lookup-number', number);
    await customsPage.click('button[type=submit].primary');
    await customsPage.waitForSelector('#summary');
    assert.equal(((await customsPage.textContent('#signature')) ?? '').trim(), 'verified');
    assert.match((await customsPage.textContent('#history')) ?? '', /1: valid/);
    await assertAccessible(customsPage, 'received certificate');
    await shot(customsPage, 'customs-certificate');

    await customsPage.fill('#declarationRef', 'VN-DECL-0001');
    await customsPage.fill('#items-0-quantity', '1000');
    await customsPage.fill('#items-1-quantity', '300');
    await customsPage.click('#run-check');
    await customsPage.waitForSelector('#decision');
    assert.equal(((await customsPage.textContent('#decision')) ?? '').trim(), 'accept');
    assert.match((await customsPage.textContent('#findings')) ?? '', /No findings|[A-Z_]+/);
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

    // The Content-Security-Policy runs no script, not even one the page's DOM is given.
    const injected = await customsPage.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "yes"';
      document.body.appendChild(script);
      return document.body.dataset.injected ?? 'no';
    })()`);
    assert.equal(injected, 'no');
    assert.deepEqual(failures, []);
    assert.equal(A, pair.a.config.partyId);
  });
});
