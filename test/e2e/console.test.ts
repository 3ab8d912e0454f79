// The operator console in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): it signs in with an admin key, shows the CO the test sent and the peer's
// traffic, and replays a dead letter from its button.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { buildEnvelope } from '../../src/exchange/envelope.ts';
import { sign } from '../../src/exchange/jose.ts';
import { exampleCertificate } from '../support/fixtures.ts';
import { A, api, B, count, deadLetterAt, eventually, issueAndWait, type Pair, publishRaw, startPair } from '../support/gateways.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('operator console in headless Chromium', () => {
  let pair: Pair;
  let browser: Browser;
  before(async () => {
    pair = await startPair();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No network here but loopback: without these Chromium keeps trying Google's services.
      // (Playwright starts it headless with a fresh profile of its own.)
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await pair?.stop();
  });

  it('signs in, shows the certificate and the peer, and replays a dead letter', async () => {
    const co = await issueAndWait(pair);
    // A message from A while B has A suspended: held as a dead letter, for the console to replay.
    await api(pair.b, 'POST', `/admin/peers/${A}/suspend`);
    const held = exampleCertificate();
    const envelope = buildEnvelope({ type: 'certificate.issued', from: A, to: B, body: held });
    await publishRaw(pair.placeB.amqpUrl, B, await sign(envelope, await pair.a.keys.signingKey()), { appId: A, messageId: envelope.id, type: 'certificate.issued' });
    await deadLetterAt(pair.b, envelope.id);
    await api(pair.b, 'POST', `/admin/peers/${A}/resume`);
    const { key } = (await api(pair.b, 'POST', '/admin/api-keys', { name: 'console operator', roles: ['admin'] })).body;

    const page = await browser.newPage();
    const failures: string[] = [];
    page.on('pageerror', (error) => failures.push(error.message));
    await page.goto(`${pair.b.url}/console`);
    await page.fill('#api-key', 'eco_00000000_wrong');
    await page.click('button[type=submit]');
    await page.waitForSelector('#error:has-text("not an admin key")');

    await page.fill('#api-key', key);
    await page.click('button[type=submit]');
    await page.waitForSelector(`#messages td:has-text("${co.number}")`);
    assert.equal(await page.textContent('#party'), B);
    const peerRow = page.locator('#peers tr', { hasText: A });
    assert.match((await peerRow.textContent()) ?? '', /ok.*accepted \d+/s);

    const row = page.locator('#dead-letters tr', { hasText: envelope.id });
    assert.match((await row.textContent()) ?? '', /UNKNOWN_SENDER/);
    await row.getByRole('button', { name: 'Replay' }).click();
    await eventually(async () => ((await count(pair.b, 'received_certificates WHERE number = $1', [held.number])) === 1 ? true : undefined), 'the replayed CO at B');
    await page.waitForSelector(`#dead-letters:not(:has-text("${envelope.id}"))`);
    const replay = await pair.b.db.query<{ actor: string }>("SELECT actor FROM audit_log WHERE action = 'dead-letter.replayed'");
    assert.match(replay.rows[0]!.actor, /^api:console operator#/);
    assert.deepEqual(failures, [], 'no script errors on the page');
    // A string, not a function: this runs in the page, whose DOM types the tests do not load.
    const injected = await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "yes"';
      document.body.appendChild(script);
      return document.body.dataset.injected ?? 'no';
    })()`);
    assert.equal(injected, 'no', "the Content-Security-Policy runs no script but the page's own");
  });
});
