// The operator console in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): it signs in with an admin key, shows the CO the test sent and the peer's
// traffic, and replays a dead letter from its button; at A, it shows why B fails and since when,
// pings B, suspends, resumes and resends only once confirmed, discards a dead letter once
// confirmed, shows API errors as their problem, and every time with its zone.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildEnvelope } from '../../src/exchange/envelope.ts';
import { sign } from '../../src/exchange/jose.ts';
import type { Gateway } from '../../src/gateway.ts';
import { launchChromium } from '../support/browser.ts';
import { exampleCertificate } from '../support/fixtures.ts';
import { A, api, B, count, deadLetterAt, eventually, freshPlace, issueAndWait, type Pair, publishRaw, registerPeer, startPair } from '../support/gateways.ts';

describe('operator console in headless Chromium', () => {
  let pair: Pair;
  let browser: Browser;
  before(async () => {
    // Few, quick retries: a message to an unreachable peer is given up (dead) within a second.
    pair = await startPair({ RELAY_BACKOFF_BASE_MS: '50', RELAY_BACKOFF_MAX_MS: '100', RELAY_MAX_ATTEMPTS: '3', RELAY_POLL_MS: '50' });
    browser = await launchChromium();
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
    await page.getByRole('dialog').getByRole('button', { name: 'Replay' }).click();
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

  /** Signs in to `gateway`'s console with a fresh admin key. */
  async function openConsole(gateway: Gateway, failures: string[]): Promise<Page> {
    const { key } = (await api(gateway, 'POST', '/admin/api-keys', { name: 'console operator', roles: ['admin'] })).body;
    const page = await browser.newPage();
    page.on('pageerror', (error) => failures.push(error.message));
    const response = await page.goto(`${gateway.url}/console`);
    assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'sha256-[A-Za-z0-9+/=]+';/, 'scripts by hash only: no unsafe-inline, no inline handlers');
    await page.fill('#api-key', key);
    await page.click('button[type=submit]');
    await page.waitForSelector('#party:not(:empty)');
    return page;
  }

  const statusOf = async (gateway: Gateway, table: 'outbox' | 'dead_letters', id: string) =>
    (await gateway.db.query<{ status: string }>(`SELECT status FROM ${table} WHERE id = $1`, [id])).rows[0]?.status;

  it('at A: shows why B fails and since when, pings it, suspends, resumes and resends once confirmed, discards once confirmed, every time with its zone', async () => {
    // B registered at A with a broker where B's inbox does not exist: A's messages are given up.
    const broken = await freshPlace('broken');
    await registerPeer(pair.a, pair.b, broken.amqpUrl);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const issued = await api(pair.a, 'POST', '/certificates', exampleCertificate());
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      ids.push(issued.body.messageId);
    }
    for (const id of ids) await eventually(async () => ((await statusOf(pair.a, 'outbox', id)) === 'dead' ? true : undefined), `message ${id} given up`);
    const [first, second] = ids as [string, string];

    const failures: string[] = [];
    const page = await openConsole(pair.a, failures);
    const dialog = page.getByRole('dialog');
    const status = page.locator('#status');

    // The failing peer says why, and when (with its zone).
    const peerRow = page.locator('#peers tr', { hasText: B });
    await peerRow.locator('td.reason', { hasText: /given up after 3 attempts: .*NOT_FOUND - no exchange 'eco.inbound'/ }).waitFor();
    const rowText = (await peerRow.textContent()) ?? '';
    assert.match(rowText, /failing/);
    assert.match(rowText, /given up after 3 attempts.*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · message [0-9a-f-]{36} \(given up\)/s);
    const errorAt = await peerRow.locator('td.reason time').getAttribute('datetime');
    const { rows: recorded } = await pair.a.db.query<{ at: Date }>('SELECT max(last_error_at) AS at FROM outbox WHERE peer = $1', [B]);
    assert.equal(errorAt, recorded[0]!.at.toISOString(), 'the time of the latest error, as recorded');

    // Ping: at the broken broker, then at the right one.
    await peerRow.getByRole('button', { name: `Ping peer ${B}` }).click();
    await page.waitForSelector(`#status:has-text("Ping ${B}: not reachable")`);
    assert.match((await status.textContent()) ?? '', /NOT_FOUND - no exchange 'eco.inbound'/);
    // The row is drawn again after the status line says it: wait for it, then read it.
    await peerRow.filter({ hasText: /not reachable.*UTC/s }).waitFor({ timeout: 10_000 });
    assert.match((await peerRow.textContent()) ?? '', /not reachable.*UTC/s, 'the last ping result stays in the row');
    await registerPeer(pair.a, pair.b, pair.placeB.amqpUrl);
    await peerRow.getByRole('button', { name: `Ping peer ${B}` }).click();
    await page.waitForSelector(`#status:has-text("Ping ${B}: reachable (connect")`);

    // Resend asks first: Cancel leaves the message dead, Resend queues it again and B's receipt comes back.
    const deadRow = page.locator('#dead-messages tr', { hasText: first });
    await deadRow.getByRole('button', { name: 'Resend' }).click();
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', new RegExp(first));
    assert.equal(await page.evaluate('document.activeElement.id'), 'confirm-cancel', 'the safe choice has the focus');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForSelector('#status:has-text("Cancelled")');
    assert.equal(await statusOf(pair.a, 'outbox', first), 'dead', 'cancelled: not resent');
    await deadRow.getByRole('button', { name: 'Resend' }).click();
    await dialog.getByRole('button', { name: 'Resend' }).click();
    await page.waitForSelector(`#status:has-text("Message ${first} queued again")`);
    await eventually(async () => ((await statusOf(pair.a, 'outbox', first)) === 'accepted' ? true : undefined), "B's receipt for the resent message");
    assert.equal(await count(pair.a, 'outbox WHERE id = $1 AND receipt IS NOT NULL', [first]), 1, 'the signed receipt is kept');
    await page.waitForSelector(`#dead-messages:not(:has-text("${first}"))`);

    // An API error shows as its problem: the second message is resent behind the console's back
    // while its question is open, and the console's resend is refused (409).
    await page.locator('#dead-messages tr', { hasText: second }).getByRole('button', { name: 'Resend' }).click();
    await dialog.waitFor();
    assert.equal((await api(pair.a, 'POST', `/admin/messages/${second}/resend`)).status, 200);
    await dialog.getByRole('button', { name: 'Resend' }).click();
    await page.waitForSelector('#status.error:has-text("Resend failed: Conflict")');
    assert.match((await status.textContent()) ?? '', new RegExp(`Conflict — message ${second} is \\w+; only dead messages are resent by hand`));

    // Suspend asks first: Cancel (and Escape) leave B active; confirmed, B is suspended; then resumed.
    await peerRow.getByRole('button', { name: 'Suspend' }).click();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForSelector('#status:has-text("Cancelled")');
    await peerRow.getByRole('button', { name: 'Suspend' }).click();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await api(pair.a, 'GET', `/admin/peers/${B}`)).body.status, 'active', 'not suspended without a yes');
    await peerRow.getByRole('button', { name: 'Suspend' }).click();
    await dialog.getByRole('button', { name: 'Suspend' }).click();
    await page.waitForSelector(`#status:has-text("Peer ${B} suspended.")`);
    assert.equal((await api(pair.a, 'GET', `/admin/peers/${B}`)).body.status, 'suspended');
    // The table shows it once the console's refresh is in (operators' reads take turns).
    await page.waitForSelector(`#peers tr:has-text("${B}"):has-text("suspended")`);
    await peerRow.getByRole('button', { name: 'Resume' }).click();
    await dialog.getByRole('button', { name: 'Resume' }).click();
    await page.waitForSelector(`#status:has-text("Peer ${B} resumed.")`);
    assert.equal((await api(pair.a, 'GET', `/admin/peers/${B}`)).body.status, 'active');

    // Discard asks first: Cancel keeps the dead letter held; confirmed, it is discarded.
    const junk = randomUUID();
    await publishRaw(pair.placeA.amqpUrl, A, 'not a JWS', { appId: 'XX-NOBODY', messageId: junk });
    const letter = await deadLetterAt(pair.a, junk);
    await page.reload(); // the key stays in the tab: signed in again, the dead letter listed
    const letterRow = page.locator('#dead-letters tr', { hasText: junk });
    await letterRow.getByRole('button', { name: 'Discard' }).click();
    assert.match((await dialog.textContent()) ?? '', /set aside for good/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await statusOf(pair.a, 'dead_letters', letter.id), 'held');
    await letterRow.getByRole('button', { name: 'Discard' }).click();
    await dialog.getByRole('button', { name: 'Discard' }).click();
    await page.waitForSelector(`#status:has-text("Dead letter ${junk} discarded.")`);
    assert.equal(await statusOf(pair.a, 'dead_letters', letter.id), 'discarded');
    await page.waitForSelector(`#dead-letters:not(:has-text("${junk}"))`);

    // Every time on the page names its zone; every action is a <button>.
    const text = (await page.textContent('body')) ?? '';
    const times = [...text.matchAll(/\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?(Z| UTC|[+-]\d\d:\d\d)?/g)];
    assert.ok(times.length >= 5, `times shown: ${times.length}`);
    for (const t of times) assert.ok(t[3], `"${t[0]}" names its zone`);
    const datetimes = (await page.evaluate('[...document.querySelectorAll("time")].map((t) => t.dateTime)')) as string[];
    assert.ok(datetimes.length >= 5 && datetimes.every((d) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(d)), datetimes.join(', '));
    assert.equal(await page.evaluate('[...document.querySelectorAll("main td:last-child > *")].filter((e) => e.tagName !== "BUTTON").length'), 0);
    assert.equal(await page.evaluate('document.querySelectorAll("[onclick], [onload], [onerror]").length'), 0, 'no inline handlers');
    assert.deepEqual(failures, [], 'no script errors on the page');
  });
});
