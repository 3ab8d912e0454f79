// The portal attacked over HTTP, as a hostile caller and as a malicious signed-in user: CSRF,
// sessions, authorization (roles, other users' drafts), injection, input bounds, brute force,
// errors. Each test asserts the secure outcome.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../../src/gateway.ts';
import { createUser } from '../../src/portal/index.ts';
import { count, freshPlace, issueAndWait, type Pair, requestFrom, startPair, startTestGateway } from '../support/gateways.ts';

const PASSWORD = 'correct horse battery staple';

type Res = { status: number; headers: Headers; body: string; location: string | null };

/** A browser without a browser: a cookie jar and fetch, no redirects followed. */

class Client {
  jar = new Map<string, string>();
  constructor(
    readonly base: string,
    readonly extraHeaders: Record<string, string> = {},
    /** A loopback address of 127.0.0.0/8 to send from, as a second client machine would. */
    readonly localAddress?: string,
  ) {}
  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  async req(method: string, path: string, body?: string | URLSearchParams | Record<string, string>, headers: Record<string, string> = {}): Promise<Res> {
    let payload: string | undefined;
    let type: string | undefined;
    if (body instanceof URLSearchParams) {
      payload = body.toString();
      type = 'application/x-www-form-urlencoded';
    } else if (typeof body === 'object') {
      payload = new URLSearchParams(body).toString();
      type = 'application/x-www-form-urlencoded';
    } else if (typeof body === 'string') {
      payload = body;
      type = 'application/x-www-form-urlencoded';
    }
    const init = {
      method,
      headers: { ...(type ? { 'content-type': type } : {}), ...(this.jar.size ? { cookie: this.cookieHeader() } : {}), ...this.extraHeaders, ...headers },
      body: payload,
    };
    const response = this.localAddress ? await requestFrom(this.localAddress, this.base + path, init) : await fetch(this.base + path, { ...init, redirect: 'manual' });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c) || /max-age=0/i.test(c)) this.jar.delete(name!.trim());
      else this.jar.set(name!.trim(), value);
    }
    return { status: response.status, headers: response.headers, body: await response.text(), location: response.headers.get('location') };
  }
  get(path: string) {
    return this.req('GET', path);
  }
  /** The CSRF token the page at `path` carries. */
  async token(path = '/portal/sign-in'): Promise<string> {
    const page = await this.get(path);
    const m = /name="_csrf" value="([^"]+)"/.exec(page.body);
    assert.ok(m, `a CSRF token on ${path} (status ${page.status})`);
    return m[1]!;
  }
  async signIn(username: string, password = PASSWORD): Promise<Res> {
    const _csrf = await this.token('/portal/sign-in');
    return this.req('POST', '/portal/sign-in', { _csrf, username, password });
  }
}

/** Sessions reused across tests (sign-in is limited to 30 a minute per address); `fresh` for one a test ends. */
const sessions = new Map<string, Client>();
async function signedIn(g: Gateway, username: string, fresh = false): Promise<Client> {
  const key = `${g.url} ${username}`;
  if (!fresh && sessions.has(key)) return sessions.get(key)!;
  const c = new Client(g.url!);
  if (!fresh) sessions.set(key, c);
  const r = await c.signIn(username);
  assert.equal(r.status, 303, `${username} signs in`);
  assert.ok(c.jar.get('eco_session'));
  return c;
}

describe('portal under attack', () => {
  let pair: Pair;
  let a: Gateway;
  let b: Gateway;
  before(async () => {
    pair = await startPair();
    a = pair.a;
    b = pair.b;
    await createUser(a.db, { username: 'issuer.one', displayName: 'Issuer One', roles: ['issuer'], password: PASSWORD });
    await createUser(a.db, { username: 'issuer.two', displayName: 'Issuer Two', roles: ['issuer'], password: PASSWORD });
    await createUser(a.db, { username: 'customs.a', displayName: 'Customs A', roles: ['customs'], password: PASSWORD });
    await createUser(a.db, { username: 'admin.a', displayName: 'Admin A', roles: ['admin'], password: PASSWORD });
    await createUser(b.db, { username: 'customs.b', displayName: 'Customs B', roles: ['customs'], password: PASSWORD });
  });
  after(async () => {
    await pair?.stop();
  });

  describe('CSRF', () => {
    it('refuses a sign-in without a token, with a token of another pre-session, and a form post with another session’s token', async () => {
      const c = new Client(a.url!);
      await c.get('/portal/sign-in');
      assert.equal((await c.req('POST', '/portal/sign-in', { username: 'issuer.one', password: PASSWORD })).status, 403);
      const other = new Client(a.url!);
      const otherToken = await other.token();
      assert.equal((await c.req('POST', '/portal/sign-in', { _csrf: otherToken, username: 'issuer.one', password: PASSWORD })).status, 403);
      assert.equal(c.jar.has('eco_session'), false);

      const one = await signedIn(a, 'issuer.one');
      const two = await signedIn(a, 'issuer.two');
      const twoToken = await two.token('/portal/certificates/new?kind=preferential');
      const before = await count(a, 'portal_drafts');
      const save = { _csrf: twoToken, kind: 'preferential', items: '1', action: 'save', '/number': 'CSRF-1' };
      assert.equal((await one.req('POST', '/portal/certificates/form', save)).status, 403);
      assert.equal((await one.req('POST', '/portal/certificates/form', { ...save, _csrf: '' })).status, 403);
      // Repeated keys make an array: refused, not coerced.
      const dup = new URLSearchParams(save);
      dup.append('_csrf', twoToken);
      assert.equal((await two.req('POST', '/portal/certificates/form', dup)).status, 403);
      assert.equal(await count(a, 'portal_drafts'), before);
    });

    it('a token from before sign-out opens nothing after it', async () => {
      const c = await signedIn(a, 'issuer.one', true);
      const token = await c.token('/portal/certificates/new?kind=preferential');
      const cookie = c.jar.get('eco_session')!;
      assert.equal((await c.req('POST', '/portal/sign-out', { _csrf: token })).status, 303);
      c.jar.set('eco_session', cookie); // the attacker kept the old cookie
      const r = await c.req('POST', '/portal/certificates/form', { _csrf: token, kind: 'preferential', items: '1', action: 'save' });
      assert.ok(r.status === 401 || r.status === 403, `status ${r.status}`);
      assert.equal((await c.get('/portal/certificates')).status, 303);
    });

    it('a CSRF token of the right length with a non-ASCII character is a 403, not a 500', async () => {
      const c = new Client(a.url!);
      const token = await c.token();
      const forged = `é${token.slice(1)}`; // 43 characters, 44 bytes
      const r = await c.req('POST', '/portal/sign-in', { _csrf: forged, username: 'issuer.one', password: PASSWORD });
      assert.equal(r.status, 403);
    });

    it('JSON, multipart and text/plain posts get no further than a form without its token', async () => {
      const c = await signedIn(a, 'issuer.one');
      const before = await count(a, 'portal_drafts');
      const json = await c.req('POST', '/portal/certificates/form', JSON.stringify({ kind: 'preferential', items: '1', action: 'save' }), { 'content-type': 'application/json' });
      assert.equal(json.status, 403);
      const text = await c.req('POST', '/portal/certificates/form', 'kind=preferential&action=save', { 'content-type': 'text/plain' });
      assert.ok(text.status >= 400 && text.status < 500, `text/plain ${text.status}`);
      const multi = await c.req('POST', '/portal/certificates/form', '--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\npreferential\r\n--x--\r\n', {
        'content-type': 'multipart/form-data; boundary=x',
      });
      assert.ok(multi.status >= 400 && multi.status < 500, `multipart ${multi.status}`);
      // X-HTTP-Method-Override / _method do nothing: a GET stays a GET.
      const over = await c.req('GET', '/portal/drafts?_method=DELETE', undefined, { 'x-http-method-override': 'POST' });
      assert.equal(over.status, 200);
      assert.equal(await count(a, 'portal_drafts'), before);
    });
  });

  describe('sessions', () => {
    it('signing in makes a new session id (no fixation); the cookie is HttpOnly, SameSite=Lax, scoped to /portal', async () => {
      const c = new Client(a.url!);
      const planted = 'A'.repeat(43);
      c.jar.set('eco_session', planted);
      const token = await c.token();
      const r = await c.req('POST', '/portal/sign-in', { _csrf: token, username: 'issuer.one', password: PASSWORD });
      assert.equal(r.status, 303);
      const set = r.headers.getSetCookie().find((s) => s.startsWith('eco_session='))!;
      assert.ok(set);
      assert.notEqual(c.jar.get('eco_session'), planted);
      assert.match(set, /HttpOnly/i);
      assert.match(set, /SameSite=Lax/i);
      assert.match(set, /Path=\/portal/);
    });

    it('a disabled user’s sessions end at once', async () => {
      await createUser(a.db, { username: 'issuer.gone', displayName: 'Gone', roles: ['issuer'], password: PASSWORD });
      const victim = await signedIn(a, 'issuer.gone', true);
      assert.equal((await victim.get('/portal/certificates')).status, 200);
      const admin = await signedIn(a, 'admin.a');
      const { rows } = await a.db.query<{ id: string }>("SELECT id FROM portal_users WHERE username = 'issuer.gone'");
      const token = await admin.token('/portal/users');
      assert.equal((await admin.req('POST', `/portal/users/${rows[0]!.id}/status`, { _csrf: token, status: 'disabled' })).status, 303);
      assert.equal((await victim.get('/portal/certificates')).status, 303);
      assert.equal(await count(a, 'portal_sessions WHERE user_id = $1', [rows[0]!.id]), 0);
    });

    it('a session past its absolute lifetime or idle too long opens nothing', async () => {
      const c = await signedIn(a, 'issuer.two', true);
      const cookie = c.jar.get('eco_session')!;
      const hash = createHash('sha256').update(cookie).digest('hex');
      assert.equal((await c.get('/portal/certificates')).status, 200);
      await a.db.query("UPDATE portal_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1", [hash]);
      assert.equal((await c.get('/portal/certificates')).status, 303, 'idle');
      c.jar.set('eco_session', cookie);
      await a.db.query("UPDATE portal_sessions SET last_seen_at = now(), expires_at = now() - interval '1 second' WHERE id_hash = $1", [hash]);
      assert.equal((await c.get('/portal/certificates')).status, 303, 'past its lifetime');
    });
  });

  describe('authorization', () => {
    it('customs can neither see nor post to issuer pages; issuer cannot reach admin pages', async () => {
      const customs = await signedIn(a, 'customs.a');
      for (const path of ['/portal/certificates', '/portal/certificates/new?kind=preferential', '/portal/drafts', '/portal/users']) {
        assert.equal((await customs.get(path)).status, 403, path);
      }
      const token = await customs.token('/portal/received');
      const before = await count(a, 'portal_drafts');
      const r = await customs.req('POST', '/portal/certificates/form', { _csrf: token, kind: 'preferential', items: '1', action: 'save', '/number': 'X-1' });
      assert.equal(r.status, 403);
      assert.equal(await count(a, 'portal_drafts'), before);
      const issuer = await signedIn(a, 'issuer.one');
      const itoken = await issuer.token('/portal/drafts');
      assert.equal((await issuer.get('/portal/users')).status, 403);
      const users = await count(a, 'portal_users');
      const made = await issuer.req('POST', '/portal/users', { _csrf: itoken, username: 'evil.user', displayName: 'Evil', roles: 'admin', password: PASSWORD });
      assert.equal(made.status, 403);
      assert.equal(await count(a, 'portal_users'), users);
    });

    it('a role taken away in the database holds on the next request of an existing session', async () => {
      await createUser(a.db, { username: 'two.roles', displayName: 'Two Roles', roles: ['issuer', 'customs'], password: PASSWORD });
      const c = await signedIn(a, 'two.roles', true);
      assert.equal((await c.get('/portal/drafts')).status, 200);
      await a.db.query("UPDATE portal_users SET roles = '{customs}' WHERE username = 'two.roles'");
      assert.equal((await c.get('/portal/drafts')).status, 403);
      const error = await c.get('/portal/drafts');
      assert.match(error.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.equal(error.headers.get('cache-control'), 'no-store');
    });

    it('an issuer cannot open, delete or overwrite another user’s draft', async () => {
      const one = await signedIn(a, 'issuer.one');
      const tok1 = await one.token('/portal/drafts');
      const saved = await one.req('POST', '/portal/certificates/form', { _csrf: tok1, kind: 'preferential', items: '1', action: 'save', '/number': 'VICTIM-1', '/remarks': 'original' });
      assert.equal(saved.status, 200);
      const { rows } = await a.db.query<{ id: string; fields: unknown }>("SELECT id, fields FROM portal_drafts WHERE number = 'VICTIM-1'");
      const victim = rows[0]!;
      const two = await signedIn(a, 'issuer.two');
      const tok2 = await two.token('/portal/drafts');
      assert.equal((await two.get(`/portal/drafts/${victim.id}`)).status, 404);
      await two.req('POST', `/portal/drafts/${victim.id}/delete`, { _csrf: tok2 });
      assert.equal(await count(a, 'portal_drafts WHERE id = $1', [victim.id]), 1);
      const overwrite = await two.req('POST', '/portal/certificates/form', {
        _csrf: tok2,
        kind: 'preferential',
        items: '1',
        action: 'save',
        draft: victim.id,
        '/number': 'VICTIM-1',
        '/remarks': 'overwritten',
      });
      const after = await a.db.query<{ fields: unknown; owner: string }>('SELECT fields, owner FROM portal_drafts WHERE id = $1', [victim.id]);
      assert.deepEqual(after.rows[0]!.fields, victim.fields, 'the victim’s draft is unchanged');
      // What issuer.two typed is not lost while the page says "Draft saved.", and the audit log
      // records no save of someone else's draft.
      const falseSave = await count(a, "audit_log WHERE action = 'portal.draft-saved' AND subject = $1 AND actor = 'portal:issuer.two'", [victim.id]);
      assert.equal(falseSave, 0, `audit records a save of another user's draft (page said saved: ${overwrite.body.includes('Draft saved.')})`);
    });
    it('a draft saved again under another kind reopens as that kind, with what was typed last', async () => {
      const c = await signedIn(a, 'issuer.one');
      const token = await c.token('/portal/drafts');
      await c.req('POST', '/portal/certificates/form', { _csrf: token, kind: 'preferential', items: '1', action: 'save', '/number': 'KIND-1' });
      const { rows } = await a.db.query<{ id: string }>("SELECT id FROM portal_drafts WHERE number = 'KIND-1'");
      const id = rows[0]!.id;
      const again = { _csrf: token, kind: 'origin-declaration', items: '1', action: 'save', draft: id, '/number': 'KIND-1', '/remarks': 'declared' };
      assert.equal((await c.req('POST', '/portal/certificates/form', again)).status, 200);
      const after = await a.db.query<{ kind: string; remarks: string }>("SELECT kind, fields->'values'->>'/remarks' AS remarks FROM portal_drafts WHERE id = $1", [id]);
      assert.deepEqual(after.rows[0], { kind: 'origin-declaration', remarks: 'declared' });
      const reopened = await c.get(`/portal/drafts/${id}`);
      assert.equal(reopened.status, 200);
      assert.match(reopened.body, /name="kind" value="origin-declaration"/);
    });
  });

  describe('injection and headers', () => {
    it('a peer’s CO text and a user’s display name are escaped; every page carries the security headers', async () => {
      const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
      const co = await issueAndWait(pair, {
        exporter: { name: `Exp ${evil}`, id: 'KR123', address: { line: evil, city: 'Seoul', country: 'KR' } },
        remarks: evil,
      } as never);
      const customs = await signedIn(b, 'customs.b');
      const page = await customs.get(`/portal/lookup?number=${encodeURIComponent(co.number)}&issuer=KR-KCS`);
      assert.equal(page.status, 200);
      assert.equal(page.body.includes('<script>alert(1)'), false);
      assert.equal(page.body.includes('<img src=x'), false);
      assert.match(page.body, /&lt;script&gt;alert\(1\)/);
      const listed = await customs.get('/portal/received');
      assert.equal(listed.body.includes('<script>alert(1)'), false);
      const h = page.headers;
      assert.match(h.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.match(h.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.equal(h.get('x-frame-options'), 'DENY');
      assert.equal(h.get('x-content-type-options'), 'nosniff');
      assert.equal(h.get('referrer-policy'), 'same-origin');
      assert.equal(h.get('cache-control'), 'no-store');

      const admin = await signedIn(a, 'admin.a');
      const token = await admin.token('/portal/users');
      const r = await admin.req('POST', '/portal/users', { _csrf: token, username: 'xss.name', displayName: evil, roles: 'issuer', password: PASSWORD });
      assert.equal(r.status, 200);
      assert.equal(r.body.includes('<script>alert(1)'), false);
      const x = await signedIn(a, 'xss.name');
      const mine = await x.get('/portal/certificates');
      assert.equal(mine.body.includes('<script>alert(1)'), false);
    });

    it('query strings reflected on pages are escaped', async () => {
      const issuer = await signedIn(a, 'issuer.one');
      const evil = encodeURIComponent('"><script>alert(1)</script>');
      for (const path of [`/portal/certificates?number=${evil}`, `/portal/certificates?status=${evil}`, `/portal/certificates?lang=${evil}&x=${evil}`, `/portal/nope${evil}`]) {
        const r = await issuer.get(path);
        assert.equal(r.body.includes('<script>'), false, path);
      }
      const customs = await signedIn(a, 'customs.a');
      for (const path of [`/portal/lookup?number=${evil}`, `/portal/received?issuer=${evil}&since=${evil}`]) {
        const r = await customs.get(path);
        assert.ok(r.status < 500, path);
        assert.equal(r.body.includes('<script>'), false, path);
      }
    });

    it('a notice is not taken from the query string (no content spoofing through a link)', async () => {
      const issuer = await signedIn(a, 'issuer.one');
      const lie = 'Your session has expired. Call the helpdesk at +1 555 0100 and give them your password.';
      for (const path of [`/portal/certificates?notice=${encodeURIComponent(lie)}`, `/portal/verifications?notice=${encodeURIComponent(lie)}`]) {
        const r = await issuer.get(path);
        assert.equal(r.body.includes('give them your password'), false, `${path} shows a notice the link wrote`);
      }
    });

    it('sign-in never redirects off the portal (no open redirect)', async () => {
      for (const next of ['//evil.example/', 'https://evil.example/', '/portal//evil.example', '/\\evil.example', '/portal/\\\\evil.example', '/portal@evil.example', ' /portal']) {
        const c = new Client(a.url!);
        const token = await c.token(`/portal/sign-in?next=${encodeURIComponent(next)}`);
        const r = await c.req('POST', '/portal/sign-in', { _csrf: token, username: 'customs.a', password: PASSWORD, next });
        assert.equal(r.status, 303);
        assert.ok(r.location?.startsWith('/portal') && !r.location.startsWith('//') && !r.location.includes('\\'), `${next} -> ${r.location}`);
      }
    });

    it('downloads of signed certificates are not cached', async () => {
      const co = await issueAndWait(pair);
      const issuer = await signedIn(a, 'issuer.two');
      const r = await issuer.get(`/portal/certificates/${co.number}/jws`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    });
  });

  describe('input bounds', () => {
    it('refuses NUL, lone surrogates, too many fields, too large bodies, arrays and overlong values with 4xx and stores nothing', async () => {
      const c = await signedIn(a, 'issuer.one');
      const token = await c.token('/portal/drafts');
      const before = await count(a, 'portal_drafts');
      const base = { _csrf: token, kind: 'preferential', items: '1', action: 'save' };
      const cases: [string, string | URLSearchParams, number[]][] = [
        ['NUL in a field', new URLSearchParams({ ...base, '/remarks': 'a\u0000b' }), [400]],
        ['NUL in a field name', new URLSearchParams({ ...base, 'x\u0000': 'a' }), [400]],
        ['repeated field', `${new URLSearchParams(base)}&%2Fremarks=a&%2Fremarks=b`, [400]],
        ['overlong value', new URLSearchParams({ ...base, '/remarks': 'x'.repeat(5000) }), [400]],
        ['3001 fields', `${new URLSearchParams(base)}${'&f=1'.repeat(0)}${Array.from({ length: 3001 }, (_, i) => `&f${i}=1`).join('')}`, [400]],
        ['600 KiB', new URLSearchParams({ ...base, '/remarks': 'x'.repeat(600 * 1024) }), [413]],
      ];
      for (const [what, body, codes] of cases) {
        const r = await c.req('POST', '/portal/certificates/form', body);
        assert.ok(codes.includes(r.status), `${what}: ${r.status}`);
        assert.equal(r.body.includes(' at '), false, `${what}: no stack trace`);
      }
      // A lone surrogate can only come as a JSON escape: JSON to a form route is checked the same way.
      const json = await c.req('POST', '/portal/certificates/form', `{"_csrf":"${token}","kind":"preferential","items":"1","action":"save","/remarks":"a\\ud800b"}`, {
        'content-type': 'application/json',
      });
      assert.equal(json.status, 400, 'JSON lone surrogate');
      assert.equal(await count(a, 'portal_drafts'), before);
      // qs-style bracket keys are plain unknown names (fast-querystring): ignored, no objects made.
      const brackets = await c.req('POST', '/portal/certificates/form', `${new URLSearchParams({ ...base, action: 'check' })}&items[0][x]=1&%2Fremarks[a]=b&__proto__[x]=1`);
      assert.equal(brackets.status, 422);
      // A broken UTF-8 escape is kept as its literal text (what fast-querystring does): safe to store.
      const broken = await c.req('POST', '/portal/certificates/form', `${new URLSearchParams(base)}&%2Fremarks=%ED%A0%80`);
      assert.ok(broken.status === 200 || broken.status === 400, `broken escape: ${broken.status}`);
      // A million items asked for: at most 99 rows.
      const many = await c.req('POST', '/portal/certificates/form', { ...base, action: 'add', items: '1000000' });
      assert.equal(many.status, 422);
      assert.ok((many.body.match(/class="section item"/g) ?? []).length <= 99);
      // In the query and path too.
      // (a broken escape like %ED%A0%80 stays its literal text: 200 with it as a filter is fine)
      for (const path of ['/portal/certificates?number=%00', '/portal/drafts/%00', '/portal/certificates/%ED%A0%80', '/portal/%00']) {
        const r = await c.get(path);
        assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      }
      assert.equal((await c.get('/portal/certificates?number=a&number=b')).status, 200);
      assert.ok((await c.get('/portal/certificates?number=%ED%A0%80')).status < 500);
    });
  });

  describe('errors', () => {
    it('no hostile input reaches a 500 or a stack trace', async () => {
      const issuer = await signedIn(a, 'issuer.one');
      const customs = await signedIn(a, 'customs.a');
      const admin = await signedIn(a, 'admin.a');
      const it1 = await issuer.token('/portal/drafts');
      const ct = await customs.token('/portal/received');
      const at = await admin.token('/portal/users');
      const uuid = '00000000-0000-4000-8000-000000000000';
      const co = await issueAndWait(pair);
      const probes: [Client, string, string, Record<string, string> | string | undefined][] = [
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'preferential', items: '-5', action: 'remove:98' }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'preferential', items: 'NaN', action: 'check', '/items/00/hsCode': '1', '/items/0/hsCode': '2' }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'preferential', items: '1', action: 'check', replace: 'VN-NOPE-1' }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'preferential', items: '1', action: 'issue', '/number': co.number }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'origin-declaration', items: '2', action: 'save', draft: uuid, recipient: 'x'.repeat(100) }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: '__proto__', items: '1', action: 'save' }],
        [issuer, 'POST', `/portal/certificates/${co.number}/cancel`, { _csrf: it1, reason: '' }],
        [issuer, 'POST', '/portal/certificates/NOPE-404/cancel', { _csrf: it1, reason: 'x' }],
        [issuer, 'POST', `/portal/verifications/${uuid}/answer`, { _csrf: it1, result: 'confirmed', findings: 'x' }],
        [issuer, 'GET', `/portal/messages/${uuid}/receipt`, undefined],
        [issuer, 'GET', '/portal/certificates/..%2F..%2Fadmin/jws', undefined],
        [issuer, 'GET', `/portal/certificates/${'9'.repeat(200)}`, undefined],
        [issuer, 'GET', `/portal/drafts/${uuid}`, undefined],
        [customs, 'GET', `/portal/checks/${uuid}`, undefined],
        [customs, 'POST', `/portal/checks/${uuid}/confirm`, { _csrf: ct }],
        [customs, 'POST', '/portal/checks', { _csrf: ct, certificateNumber: co.number, issuer: 'KR-KCS', declarationRef: 'x', 'items.0.itemNumber': '1', 'items.0.quantity': '1e999' }],
        [customs, 'POST', '/portal/checks', { _csrf: ct, certificateNumber: 'NOPE-1', issuer: 'ZZ-NONE', declarationRef: 'x', purpose: 'x' }],
        [customs, 'POST', '/portal/verifications', { _csrf: ct, certificateNumber: 'NOPE-1', issuer: 'ZZ-NONE', reasons: 'why' }],
        [customs, 'GET', `/portal/lookup?number=${co.number}&issuer=ZZ-NONE`, undefined],
        [customs, 'GET', '/portal/lookup?number=a&number=b', undefined],
        [customs, 'GET', '/portal/received?since=9999-99-99', undefined],
        [customs, 'GET', '/portal/received?since=2024-02-31', undefined],
        [admin, 'POST', '/portal/users', { _csrf: at, username: 'admin.a', displayName: 'dup', roles: 'admin', password: PASSWORD }],
        [admin, 'POST', '/portal/users', { _csrf: at, username: 'x'.repeat(100), displayName: ' ', roles: 'root', password: 'x' }],
        [admin, 'POST', `/portal/users/${uuid}/status`, { _csrf: at, status: 'disabled' }],
        [admin, 'POST', '/portal/users/not-a-uuid/status', { _csrf: at, status: 'disabled' }],
        [customs, 'GET', `/portal/received?from=2024-02-31&to=9999-99-99&page=99999&party=x%00&hsCode=abc&sort=zzz&status=replaced`, undefined],
        [customs, 'GET', `/portal/received?number=%25_%5C&exporter=${'x'.repeat(5000)}&importer=%F0%9F%98%80&page=-1`, undefined],
        [issuer, 'GET', '/portal/certificates?number=a&number=b&hsCode=00&from=0000-00-00', undefined],
        [issuer, 'POST', '/portal/certificates/confirm', { _csrf: it1, draft: uuid, digest: 'x' }],
        [issuer, 'POST', '/portal/certificates/confirm', { _csrf: it1, draft: 'not-a-draft' }],
        [
          issuer,
          'POST',
          '/portal/certificates/form',
          { _csrf: it1, kind: 'preferential', items: '1', action: 'review', '/number': co.number, '/items/0/quantity/value': '1,5', '/exportCountry': 'x'.repeat(500) },
        ],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'preferential', items: '1', action: 'autosave', draft: uuid }],
        [issuer, 'GET', `/portal/certificates/${co.number}/status`, undefined],
        [issuer, 'GET', '/portal/certificates/NOPE-404/cancel', undefined],
        [issuer, 'POST', '/portal/password', { _csrf: it1, current: 'x', password: 'y'.repeat(500), confirm: 'y'.repeat(500) }],
        [admin, 'GET', `/portal/audit?from=2024-02-31&before=-1&actor=${'x'.repeat(400)}`, undefined],
        [admin, 'GET', '/portal/audit?format=csv&action=%3D1%2B1', undefined],
        [admin, 'GET', '/portal/reports?from=2099-13&to=2000-01', undefined],
        [admin, 'GET', '/portal/reports?from=1990-01&to=2030-01&format=csv', undefined],
        [admin, 'POST', '/portal/numbering', { _csrf: at, pattern: '{seq:99}{yyyy}{evil}' }],
        [admin, 'POST', '/portal/numbering', { _csrf: at, pattern: `${'x'.repeat(30)}{yyyy}{seq:12}` }],
        [admin, 'POST', `/portal/users/${uuid}/roles`, { _csrf: at, roles: 'root' }],
        [admin, 'POST', `/portal/users/${uuid}/password`, { _csrf: at, password: 'x' }],
        [admin, 'POST', `/portal/users/${uuid}/unlock`, { _csrf: at }],
        [customs, 'GET', '/portal/received?from=0000-01-01&to=0001-12-31', undefined],
        [admin, 'GET', '/portal/audit?from=0000-01-01', undefined],
        [admin, 'GET', '/portal/reports?from=0000-01&to=0001-01', undefined],
        [admin, 'POST', '/portal/numbering', { _csrf: at, pattern: 'X-{yyyy}-{seq:06}' }],
        [issuer, 'POST', '/portal/certificates/form', { _csrf: it1, kind: 'non-preferential', items: '1', action: 'review', '/issuedAt': '1999-12-31' }],
      ];
      const bad: string[] = [];
      for (const [who, method, path, body] of probes) {
        const r = await who.req(method, path, body);
        if (r.status >= 500 || /\bat [^ ]+ \(/.test(r.body) || /node_modules|\.ts:\d+/.test(r.body)) bad.push(`${method} ${path} ${JSON.stringify(body)}: ${r.status}`);
      }
      assert.deepEqual(bad, []);
    });
  });

  describe('brute force', () => {
    it('a throttled account answers like an unknown user name (no user enumeration through the throttle)', async () => {
      const g = await startTestGateway('KR-KCS', await freshPlace('bf1'));
      try {
        await createUser(g.db, { username: 'real.user', displayName: 'Real', roles: ['issuer'], password: PASSWORD });
        const c = new Client(g.url!);
        const answers = async (username: string) => {
          const out: string[] = [];
          for (let i = 0; i < 6; i++) {
            const r = await c.signIn(username, 'wrong wrong wrong');
            out.push(/id="sign-in-error">([^<]*)</.exec(r.body)?.[1] ?? String(r.status));
          }
          return out;
        };
        const unknown = await answers('no.such.user');
        const known = await answers('real.user');
        assert.deepEqual(known, unknown, 'an existing account answers as an unknown name does');
      } finally {
        await g.stop();
      }
    });

    it('user name variants share one throttle; X-Forwarded-For does not reset the per-address limit', async () => {
      const g = await startTestGateway('KR-KCS', await freshPlace('bf2'));
      try {
        await createUser(g.db, { username: 'case.user', displayName: 'Case', roles: ['issuer'], password: PASSWORD });
        const c = new Client(g.url!);
        for (const v of ['CASE.USER', ' case.user', 'Case.User ', 'case.user\t', 'cAsE.uSeR']) await c.signIn(v, 'wrong wrong wrong');
        const right = await c.signIn('case.user');
        assert.equal(right.status, 401, 'throttled after 5 variants');
        let limited = false;
        for (let i = 0; i < 30 && !limited; i++) {
          const x = new Client(g.url!, { 'x-forwarded-for': `10.0.${i}.1` });
          const r = await x.signIn(`nobody${i}`, 'wrong wrong wrong');
          limited = r.status === 429;
        }
        assert.ok(limited, 'the per-address limit is met whatever X-Forwarded-For says');
      } finally {
        await g.stop();
      }
    });

    it('nobody can lock a named officer out: guesses from elsewhere slow the guesser, not the officer at their desk', async () => {
      // Before, five wrong guesses from anywhere locked the account for 15 minutes, and one more
      // after that locked it again.
      const g = await startTestGateway('KR-KCS', await freshPlace('bf4'));
      try {
        await createUser(g.db, { username: 'officer.kim', displayName: 'Kim', roles: ['issuer'], password: PASSWORD });
        const attacker = new Client(g.url!, {}, '127.0.0.2');
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++) statuses.push((await attacker.signIn('officer.kim', `guess number ${i}`)).status);
        assert.ok(statuses.every((s) => s === 401));
        assert.equal(await count(g, "audit_log WHERE action = 'portal.sign-in-failed' AND data->>'address' = '127.0.0.2'"), 5, 'five guesses evaluated, the rest waited');
        // Even the right password waits, from the guesser's address.
        assert.equal((await attacker.signIn('officer.kim')).status, 401);
        // The officer signs in at once from their own address.
        const officer = new Client(g.url!);
        assert.equal((await officer.signIn('officer.kim')).status, 303);
        assert.ok(officer.jar.get('eco_session'));
      } finally {
        await g.stop();
      }
    });

    it('guesses sent in parallel do not get past the throttle', async () => {
      const g = await startTestGateway('KR-KCS', await freshPlace('bf3'));
      try {
        await createUser(g.db, { username: 'race.user', displayName: 'Race', roles: ['issuer'], password: PASSWORD });
        const c = new Client(g.url!);
        const token = await c.token();
        const guesses = Array.from({ length: 25 }, (_, i) => `wrong guess number ${i}`);
        const results = await Promise.all(guesses.map((password) => c.req('POST', '/portal/sign-in', { _csrf: token, username: 'race.user', password })));
        assert.ok(results.every((r) => r.status === 401));
        // Each evaluated wrong password is audited with reason "wrong password"; throttled ones are not evaluated.
        const evaluated = await count(g, "audit_log WHERE action = 'portal.sign-in-failed' AND data->>'reason' = 'wrong password'");
        assert.ok(evaluated <= 5, `${evaluated} passwords were tried against the account, not at most 5`);
      } finally {
        await g.stop();
      }
    });
  });
});
