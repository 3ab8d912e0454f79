// A CO anyone can verify (PROFILE 1.2): the printed copy with its seal, read back by independent
// tools (poppler's pdftoppm, zbar's zbarimg, panva's jose), verified by the CLI against the trust
// list the gateway serves, through every reason a change at the issuer can give.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as jose from 'jose';
import { createApiKey } from '../../src/auth/index.ts';
import { canonicalJson } from '../../src/seals/format.ts';
import { assertAccessible, launchChromium } from '../support/browser.ts';
import { A, api, B, eventually, exampleCertificate, type Pair, requestFrom, startPair } from '../support/gateways.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
// The README's pictures are remade with ECO_SCREENSHOTS=docs (npm run screenshots).
const SHOTS = process.env.ECO_SCREENSHOTS === 'docs' ? join(ROOT, 'docs/screenshots') : undefined;

/** The CLI verifier, as an officer runs it; resolves with its exit code and output. */
async function verifyCli(args: string[]): Promise<{ code: number; out: string; verdict: { reason: string; detail: string; fields?: Record<string, unknown> } }> {
  try {
    // --pin=… as the usage says: a thumbprint may start with a dash.
    const joined = args.map((arg, i) => (args[i - 1] === '--pin' ? undefined : arg === '--pin' ? `--pin=${args[i + 1]}` : arg)).filter((a) => a !== undefined);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'verify', ...joined, '--json'], { cwd: ROOT, env: { ...process.env, ECO_TRUST_PINS: '' } });
    return { code: 0, out: stdout, verdict: JSON.parse(stdout) };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    if (e.code !== 1) throw new Error(`verify exited ${e.code}: ${e.stderr}`);
    return { code: 1, out: e.stdout, verdict: JSON.parse(e.stdout) };
  }
}

async function pdfOf(pair: Pair, number: string, version?: number): Promise<Buffer> {
  const response = await fetch(`${pair.a.url}/certificates/${number}${version ? `?version=${version}` : ''}`, { headers: { accept: 'application/pdf', authorization: `Bearer ${await keyOf(pair)}` } });
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(response.headers.get('content-type'), 'application/pdf');
  return Buffer.from(await response.arrayBuffer());
}

let apiKey: string | undefined;
async function keyOf(pair: Pair): Promise<string> {
  apiKey ??= (await createApiKey(pair.a.db, 'seals test', ['issuer', 'customs', 'admin'])).key;
  return apiKey;
}

/** What an officer's scanner reads off the printed page: pdftoppm at 200 dpi, then zbarimg. */
async function scanPrinted(dir: string, pdf: Buffer, name: string): Promise<{ png: string; text: string }> {
  const pdfPath = join(dir, `${name}.pdf`);
  await writeFile(pdfPath, pdf);
  await run('pdftoppm', ['-r', '200', '-png', '-singlefile', pdfPath, join(dir, name)]);
  const png = join(dir, `${name}.png`);
  const { stdout } = await run('zbarimg', ['--quiet', '--raw', '-Sbinary', png]);
  return { png, text: stdout.replace(/\n$/, '') };
}

async function trustThumbprint(pair: Pair, gateway: 'a' | 'b'): Promise<string> {
  const { rows } = await pair[gateway].db.query<{ kid: string }>("SELECT kid FROM keys WHERE use = 'trust' AND status = 'active'");
  return rows[0]!.kid;
}

describe('printed copies, seals, the trust list and the offline verifier', () => {
  let pair: Pair;
  let dir: string;
  let pin: string;
  let trustUrl: string;
  const certificate = exampleCertificate();

  before(async () => {
    pair = await startPair();
    dir = await mkdtemp(join(tmpdir(), 'eco-seals-'));
    pin = await trustThumbprint(pair, 'a');
    trustUrl = `${pair.a.url}/.well-known/eco-trust.jws`;
    assert.equal((await api(pair.a, 'POST', '/certificates', certificate)).status, 201);
  });
  after(async () => {
    await pair.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints an A4 PDF/A-3 copy whose QR code, read by zbarimg, is a seal binding the paper to the data the importing party received', async () => {
    const pdf = await pdfOf(pair, certificate.number);
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    assert.ok(pdf.length < 150_000, `${pdf.length} bytes`);
    const text = pdf.toString('latin1');
    assert.match(text, /pdfaid:part>3</);
    assert.match(text, /\/AFRelationship \/Source/);
    const { text: seal } = await scanPrinted(dir, pdf, 'valid');
    if (SHOTS) await run('pdftoppm', ['-r', '60', '-png', '-singlefile', join(dir, 'valid.pdf'), join(SHOTS, 'printed-co')]);
    assert.ok(seal.startsWith('ECO1:') && seal.length <= 900, seal);

    // An independent library checks the seal with the key the trust list names.
    const list = await (await fetch(trustUrl)).text();
    const listed = jose.decodeJwt(list) as { keys: (jose.JWK & { kid: string; use: string })[] };
    const header = jose.decodeProtectedHeader(seal.slice(5));
    assert.deepEqual([header.alg, header.typ], ['ES256', 'eco-seal+jws']);
    const key = listed.keys.find((k) => k.kid === header.kid && k.use === 'sig')!;
    assert.equal(await jose.calculateJwkThumbprint(key), header.kid);
    const { payload } = await jose.compactVerify(seal.slice(5), await jose.importJWK(key, 'ES256'));
    const sealed = JSON.parse(Buffer.from(payload).toString());
    assert.equal(Buffer.from(payload).toString(), JSON.stringify(sealed), 'no whitespace');
    assert.deepEqual(Object.keys(sealed), ['n', 'v', 'i', 'k', 'd', 'x', 'm', 'h', 'u']);
    assert.equal(sealed.u, `${pair.a.url}/status`);

    // h is over the canonical bytes of the body the importing gateway received and stored.
    const received = await eventually(async () => (await pair.b.db.query<{ jws: string }>('SELECT jws FROM received_certificates WHERE number = $1', [certificate.number])).rows[0], 'the CO at B');
    const body = (jose.decodeJwt(received.jws) as { body: unknown }).body;
    assert.equal(sealed.h, createHash('sha256').update(canonicalJson(body)).digest('base64url'));

    // A customs key at the issuing gateway may look the CO up, not print its sealed copy.
    const customs = await createApiKey(pair.a.db, 'customs only', ['customs']);
    const refused = await fetch(`${pair.a.url}/certificates/${certificate.number}`, { headers: { accept: 'application/pdf', authorization: `Bearer ${customs.key}` } });
    assert.equal(refused.status, 403);
    const verified = await verifyCli([join(dir, 'valid.png'), '--trust', trustUrl, '--pin', pin]);
    assert.equal(verified.verdict.reason, 'OK', verified.out);
    assert.equal(verified.code, 0);
    assert.equal(verified.verdict.fields?.n, certificate.number);
    // The PDF itself: the QR read from its image, and certificate.jws checked against h.
    const fromPdf = await verifyCli([join(dir, 'valid.pdf'), '--trust', trustUrl, '--pin', pin]);
    assert.equal(fromPdf.verdict.reason, 'OK', fromPdf.out);
  });

  it('verifies the printed copy in the /verify page (headless Chromium): online, and saved to disk with the network cut, in English and French', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(`${pair.a.url}/verify`);
      await page.setInputFiles('#image', join(dir, 'valid.png'));
      await page.waitForSelector('#reason-code');
      assert.equal(await page.textContent('#reason-code'), 'OK');
      assert.match((await page.textContent('#result'))!, /Status from the issuer, checked at .*: valid/);
      await assertAccessible(page, '/verify with a result');
      await page.click('#language');
      assert.match((await page.textContent('#result'))!, /Le sceau est authentique/);
      await assertAccessible(page, '/verify in French');
      if (SHOTS) await page.screenshot({ path: join(SHOTS, 'verify-page.png'), fullPage: true });

      // Saved to disk and opened from the file, with no network: the trust list comes from a file too.
      const saved = join(dir, 'verify.html');
      await writeFile(saved, await (await fetch(`${pair.a.url}/verify`)).text());
      await writeFile(join(dir, 'trust-offline.jws'), await (await fetch(trustUrl)).text());
      await context.setOffline(true);
      const offline = await context.newPage();
      await offline.goto(`file://${saved}`);
      await offline.setInputFiles('#trust-file', join(dir, 'trust-offline.jws'));
      await offline.setInputFiles('#image', join(dir, 'valid.png'));
      await offline.waitForSelector('#reason-code');
      assert.equal(await offline.textContent('#reason-code'), 'OK');
      assert.match((await offline.textContent('#result'))!, /Status as of the trust list of .*: valid/);
      // A pasted seal with a flipped byte, still offline.
      const seal = (await offline.inputValue('#seal')).trim();
      const at = seal.lastIndexOf('.') + 10;
      await offline.fill('#seal', seal.slice(0, at) + (seal[at] === 'A' ? 'B' : 'A') + seal.slice(at + 1));
      await offline.click('#verify');
      await offline.waitForFunction(() => document.getElementById('reason-code')?.textContent === 'SEAL_SIGNATURE_INVALID');
    } finally {
      await browser.close();
    }
  });

  it('says why a seal fails: a flipped byte, an unpinned or stale list, a certificate other than the sealed one', async () => {
    const { seal } = (await api(pair.a, 'GET', `/certificates/${certificate.number}/seal`)).body as { seal: string };
    const signatureAt = seal.lastIndexOf('.') + 20;
    const flipped = seal.slice(0, signatureAt) + (seal[signatureAt] === 'A' ? 'B' : 'A') + seal.slice(signatureAt + 1);
    assert.equal((await verifyCli([flipped, '--trust', trustUrl, '--pin', pin])).verdict.reason, 'SEAL_SIGNATURE_INVALID');
    assert.equal((await verifyCli([seal, '--trust', trustUrl, '--pin', 'x'.repeat(43)])).verdict.reason, 'TRUST_LIST_UNPINNED');
    // Not a file (a folder, a device): refused as given, one line, exit 2; never a stack trace.
    await assert.rejects(
      run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'verify', dir], { cwd: ROOT }),
      (e: { code: number; stderr: string }) => e.code === 2 && /is not a file/.test(e.stderr) && !/\n\s+at /.test(e.stderr),
    );
    // A pins file: pinned once by hand, then the list's own trust keys are kept there for the next runs.
    const pinsFile = join(dir, 'pins.json');
    assert.equal((await verifyCli([seal, '--trust', trustUrl, '--pin', pin, '--pins', pinsFile])).verdict.reason, 'OK');
    assert.deepEqual(JSON.parse(await readFile(pinsFile, 'utf8')), { [A]: [pin] });
    assert.equal((await verifyCli([seal, '--trust', trustUrl, '--pins', pinsFile])).verdict.reason, 'OK', 'no --pin this time');
    const listFile = join(dir, 'trust.jws');
    await writeFile(listFile, await (await fetch(trustUrl)).text());
    const later = new Date(Date.now() + 25 * 3600_000).toISOString();
    const stale = await verifyCli([seal, '--trust', listFile, '--pin', pin, '--offline', '--at', later]);
    assert.equal(stale.verdict.reason, 'TRUST_LIST_STALE', stale.out);
    assert.equal(stale.code, 1);
    const other = exampleCertificate();
    assert.equal((await api(pair.a, 'POST', '/certificates', other)).status, 201);
    const otherPdf = await pdfOf(pair, other.number);
    const { readPdfCopy } = await import('../../src/seals/qr.ts');
    const attachment = (await readPdfCopy(otherPdf)).certificateJws!;
    await writeFile(join(dir, 'other.jws'), attachment);
    const mismatch = await verifyCli([seal, '--trust', trustUrl, '--pin', pin, '--certificate', join(dir, 'other.jws')]);
    assert.equal(mismatch.verdict.reason, 'HASH_MISMATCH', mismatch.out);
  });

  it('answers the status signed, with nothing but unknown for an h nobody issued, and shows the issuer who checked', async () => {
    const { seal } = (await api(pair.a, 'GET', `/certificates/${certificate.number}/seal`)).body as { seal: string };
    const h = JSON.parse(Buffer.from(seal.slice(5).split('.')[1]!, 'base64url').toString()).h as string;
    const nonce = 'n'.repeat(22);
    const answer = await fetch(`${pair.a.url}/status?h=${h.slice(0, 22)}&nonce=${nonce}`, { headers: { accept: 'application/jose' } });
    assert.equal(answer.status, 200);
    const status = jose.decodeJwt(await answer.text());
    assert.equal(status.status, 'valid');
    assert.equal(status.nonce, nonce);
    assert.equal(status.n, certificate.number);
    const unknown = jose.decodeJwt(await (await fetch(`${pair.a.url}/status?h=${'A'.repeat(22)}&nonce=${nonce}`)).text());
    assert.deepEqual(Object.keys(unknown).sort(), ['checkedAt', 'h', 'nonce', 'status']);
    assert.equal(unknown.status, 'unknown');
    const page = await fetch(`${pair.a.url}/status?h=${h.slice(0, 22)}`, { headers: { accept: 'text/html', 'accept-language': 'fr' } });
    assert.match(await page.text(), /Valide/);
    const checks = await eventually(async () => {
      const { body } = await api(pair.a, 'GET', `/certificates/${certificate.number}/checks`);
      return body.total >= 2 ? body : undefined;
    }, 'the checks recorded');
    assert.equal(checks.checks[0].origin, '127.0.0.1');
  });

  it('reports a cancelled and a replaced certificate, a retired key (still valid) and a revoked key', async () => {
    const replaced = exampleCertificate();
    const cancelled = exampleCertificate();
    for (const c of [replaced, cancelled]) assert.equal((await api(pair.a, 'POST', '/certificates', c)).status, 201);
    const v1 = await pdfOf(pair, replaced.number);
    const toCancel = await pdfOf(pair, cancelled.number);
    assert.equal((await api(pair.a, 'POST', `/certificates/${replaced.number}/replace`, { ...replaced, version: 2, remarks: 'corrected' })).status, 201);
    assert.equal((await api(pair.a, 'POST', `/certificates/${cancelled.number}/cancel`, { reason: 'issued in error' })).status, 200);
    await writeFile(join(dir, 'v1.pdf'), v1);
    await writeFile(join(dir, 'cancelled.pdf'), toCancel);
    const wasReplaced = await verifyCli([join(dir, 'v1.pdf'), '--trust', trustUrl, '--pin', pin]);
    assert.equal(wasReplaced.verdict.reason, 'CERTIFICATE_REPLACED', wasReplaced.out);
    assert.equal((await verifyCli([join(dir, 'cancelled.pdf'), '--trust', trustUrl, '--pin', pin])).verdict.reason, 'CERTIFICATE_CANCELLED');
    // The status service says the same, online.
    const cancelledPrint = await scanPrinted(dir, await pdfOf(pair, cancelled.number), 'cancelled-now');
    assert.equal((await verifyCli([cancelledPrint.png, '--trust', trustUrl, '--pin', pin])).verdict.reason, 'CERTIFICATE_CANCELLED');

    // Rotation: the old key retires, and what it sealed still verifies.
    await writeFile(join(dir, 'before-rotation.pdf'), await pdfOf(pair, certificate.number));
    const oldKid = (await pair.a.db.query<{ kid: string }>("SELECT kid FROM keys WHERE use = 'sig' AND status = 'active'")).rows[0]!.kid;
    const created = await api(pair.a, 'POST', '/admin/keys', { use: 'sig' });
    assert.equal((await api(pair.a, 'POST', `/admin/keys/${created.body.kid}/activate`)).status, 200);
    await new Promise((r) => setTimeout(r, 5500)); // the signing key is cached for up to 5 s
    const retired = await verifyCli([join(dir, 'before-rotation.pdf'), '--trust', trustUrl, '--pin', pin]);
    assert.equal(retired.verdict.reason, 'OK', retired.out);
    // Compromise: revoked as of an instant, every seal it made fails; a fresh copy is sealed anew.
    const revoke = await api(pair.a, 'POST', `/admin/keys/${oldKid}/revoke`, { at: new Date(Date.now() - 3600_000).toISOString() });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    const revoked = await verifyCli([join(dir, 'before-rotation.pdf'), '--trust', trustUrl, '--pin', pin]);
    assert.equal(revoked.verdict.reason, 'SEAL_KEY_REVOKED', revoked.out);
    await writeFile(join(dir, 'resealed.pdf'), await pdfOf(pair, certificate.number));
    assert.equal((await verifyCli([join(dir, 'resealed.pdf'), '--trust', trustUrl, '--pin', pin])).verdict.reason, 'OK');
    const list = jose.decodeJwt(await (await fetch(trustUrl)).text()) as { keys: { kid: string; revokedAt?: string }[] };
    assert.ok(list.keys.find((k) => k.kid === oldKid)?.revokedAt, 'the trust list names the revocation');
  });

  it('limits status checks per address, refuses malformed queries, and shows operators checks of cancelled certificates and of unknown seals', async () => {
    for (const query of ['h=short&nonce=' + 'n'.repeat(22), `h=${'A'.repeat(22)}&nonce=bad`, `h=${'A'.repeat(22)}`, `h=${'<'.repeat(22)}&nonce=${'n'.repeat(22)}`]) {
      const refused = await fetch(`${pair.a.url}/status?${query}`, { headers: { accept: 'application/jose' } });
      assert.equal(refused.status, 400, query);
      assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    }
    // Someone walking through made-up hashes from 127.0.0.3: limited (60 a minute), others still answered.
    const flood = await Promise.all(
      Array.from({ length: 70 }, (_, i) =>
        requestFrom('127.0.0.3', `${pair.a.url}/status?h=${String(i).padStart(22, 'x')}&nonce=${'n'.repeat(22)}`, { method: 'GET', headers: { accept: 'application/jose' } }),
      ),
    );
    const limited = flood.filter((r) => r.status === 429);
    assert.equal(flood.length - limited.length, 60);
    assert.ok(Number(limited[0]!.headers.get('retry-after')) > 0);
    assert.equal((await fetch(`${pair.a.url}/status?h=${'A'.repeat(22)}&nonce=${'n'.repeat(22)}`)).status, 200, 'another address is answered');
    // A cancelled certificate whose paper is still shown: checked at its status URL.
    const withdrawn = exampleCertificate();
    assert.equal((await api(pair.a, 'POST', '/certificates', withdrawn)).status, 201);
    const { seal } = (await api(pair.a, 'GET', `/certificates/${withdrawn.number}/seal`)).body as { seal: string };
    assert.equal((await api(pair.a, 'POST', `/certificates/${withdrawn.number}/cancel`, { reason: 'goods never shipped' })).status, 200);
    const h22 = (jose.decodeJwt(seal.slice(5)).h as string).slice(0, 22);
    for (let i = 0; i < 3; i++) assert.equal(jose.decodeJwt(await (await fetch(`${pair.a.url}/status?h=${h22}&nonce=${'c'.repeat(20)}${i}`)).text()).status, 'cancelled');
    const unusual = await eventually(async () => {
      const { body } = await api(pair.a, 'GET', '/admin/status-checks');
      // Counts are written once a second: wait for all of them, not the first flush.
      const flooded = body.unknownByOrigin.some((o: { origin: string; checks: number }) => o.origin === '127.0.0.3' && o.checks === 60);
      const withdrawnChecked = body.finalStatusChecks.some((c: { number: string; checks: number }) => c.number === withdrawn.number && c.checks === 3);
      return flooded && withdrawnChecked ? body : undefined;
    }, 'the flood and the cancelled certificate in the unusual checks');
    assert.deepEqual(
      unusual.finalStatusChecks.map((c: { number: string; answered: string; checks: number }) => [c.number, c.answered, c.checks]),
      [[withdrawn.number, 'cancelled', 3]],
    );
    // The console's notices say it too.
    const { body: overview } = await api(pair.a, 'GET', '/admin/overview');
    const notice = overview.notices.find((n: { kind: string; number?: string }) => n.kind === 'final-status-checked' && n.number === withdrawn.number);
    assert.match(notice?.text ?? '', /checked 3 times .* although it is cancelled/);
  });

  it("serves a peer's trust list as the peer signed it, and the peer's seals verify through it", async () => {
    const fromB = exampleCertificate({
      number: `VN-T-${Date.now()}`,
      issuer: { partyId: B, name: 'Viet Nam Ministry of Industry and Trade' },
      exportCountry: 'VN',
      importCountry: 'KR',
      exporter: { name: 'Saigon Industrial Supply JSC', address: { city: 'Ho Chi Minh City', country: 'VN' } },
      items: exampleCertificate().items.map((item) => ({ ...item, originCountry: 'VN' })),
    });
    const issued = await api(pair.b, 'POST', '/certificates', fromB);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const bPin = await trustThumbprint(pair, 'b');
    const registered = await api(pair.a, 'PUT', `/admin/peers/${B}/trust-list`, { url: `${pair.b.url}/.well-known/eco-trust.jws`, pins: [bPin] });
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    const served = `${pair.a.url}/.well-known/eco-trust/${B}.jws`;
    assert.equal(await (await fetch(served)).text(), await (await fetch(`${pair.b.url}/.well-known/eco-trust.jws`)).text());
    const { seal } = (await api(pair.b, 'GET', `/certificates/${fromB.number}/seal`)).body as { seal: string };
    const verified = await verifyCli([seal, '--trust', served, '--pin', bPin, '--offline']);
    assert.equal(verified.verdict.reason, 'OK', verified.out);
    // Our own list, by party id, is the same as at /.well-known/eco-trust.jws.
    assert.equal((await fetch(`${pair.a.url}/.well-known/eco-trust/${A}.jws`)).status, 200);
    // A pin that is not the peer's trust key: the list is refused, nothing is served.
    const wrong = await api(pair.a, 'PUT', `/admin/peers/${B}/trust-list`, { url: `${pair.b.url}/.well-known/eco-trust.jws`, pins: [pin] });
    assert.equal(wrong.status, 422, JSON.stringify(wrong.body));
    assert.equal((await fetch(served)).status, 404);
  });
});
