// A model-based (stateful) test: fast-check drives two real gateways (A issues, B imports) and a
// foreign test peer C (a second issuer of A's country, registered at B) through random sequences
// of issue, replace, cancel, colliding message ids, foreign cancellations, checks in random
// convertible (and not convertible) units with retries, and reconciliation. After each step it
// checks the invariants of docs/architecture.md ("Invariants") on the real databases.
// Fixed seed and size in CI; MODEL_RUNS, MODEL_STEPS and MODEL_SEED make a longer run on demand.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Certificate } from '../../src/dataset/index.ts';
import { compare, convert, exact, format, add as plus } from '../../src/dataset/index.ts';
import { canonicalForm } from '../../src/seals/produce.ts';
import { type ForeignPeer, foreignPeer } from '../support/foreign-peer.ts';
import { A, api, B, eventually, exampleCertificate, type Pair, reconcile, startPair } from '../support/gateways.ts';

const RUNS = Number(process.env.MODEL_RUNS ?? 12);
const STEPS = Number(process.env.MODEL_STEPS ?? 30);
const SEED = Number(process.env.MODEL_SEED ?? 20261207);

type Co = { number: string; version: number; status: 'valid' | 'replaced' | 'cancelled'; quantity: string; dataset: Certificate };
type Model = {
  /** A's COs, as B must show them whatever C does. */
  cos: Co[];
  /** Ids A used for messages to B: C reuses them. */
  aIds: string[];
  /** What each confirmed declaration drew, per CO number, in KGM. */
  drawn: Map<string, ReturnType<typeof exact>>;
  declarations: Map<string, string>;
  steps: number;
};
type Real = { pair: Pair; c: ForeignPeer };

const KGM_ITEM = (value: string) => ({ ...exampleCertificate().items[0]!, quantity: { value, unit: 'KGM' } });

async function waitAtB(real: Real, number: string, version: number, status: string): Promise<void> {
  await eventually(async () => {
    const r = await api(real.pair.b, 'GET', `/certificates/${number}?issuer=${A}`);
    return r.status === 200 && r.body.version === version && r.body.status === status ? true : undefined;
  }, `${number} v${version} ${status} at B`);
}

async function lastIdTo(real: Real, number: string): Promise<string> {
  const { rows } = await real.pair.a.db.query<{ id: string }>('SELECT id FROM outbox WHERE certificate_number = $1 ORDER BY created_at DESC LIMIT 1', [number]);
  return rows[0]!.id;
}

class Issue implements fc.AsyncCommand<Model, Real> {
  constructor(readonly quantity: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const dataset = { ...exampleCertificate(), items: [KGM_ITEM(String(this.quantity))] };
    const r = await api(real.pair.a, 'POST', '/certificates', dataset);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    model.cos.push({ number: dataset.number, version: 1, status: 'valid', quantity: String(this.quantity), dataset });
    model.aIds.push(await lastIdTo(real, dataset.number));
    await waitAtB(real, dataset.number, 1, 'valid');
  }
  toString = () => `issue ${this.quantity} KGM`;
}

/** An issue whose number the gateway gives from A's pattern (NUMBERING), in the transaction that issues it. */
class IssueNumbered implements fc.AsyncCommand<Model, Real> {
  constructor(readonly quantity: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const template = { ...exampleCertificate(), items: [KGM_ITEM(String(this.quantity))] };
    const { result } = await real.pair.a.certificates.issue({ ...template, number: 'STAND-IN' }, { assignNumber: true });
    model.cos.push({ number: result.number, version: 1, status: 'valid', quantity: String(this.quantity), dataset: { ...template, number: result.number } });
    model.aIds.push(await lastIdTo(real, result.number));
    await waitAtB(real, result.number, 1, 'valid');
  }
  toString = () => `issue ${this.quantity} KGM numbered by the pattern`;
}

class Replace implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly quantity: number,
  ) {}
  check = (m: Readonly<Model>) => m.cos.some((c) => c.status === 'valid');
  async run(model: Model, real: Real) {
    const valid = model.cos.filter((c) => c.status === 'valid');
    const co = valid[this.pick % valid.length]!;
    const dataset = { ...co.dataset, version: co.version + 1, items: [KGM_ITEM(String(this.quantity))] };
    const r = await api(real.pair.a, 'POST', `/certificates/${co.number}/replace`, dataset);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    Object.assign(co, { version: co.version + 1, quantity: String(this.quantity), dataset });
    model.aIds.push(await lastIdTo(real, co.number));
    await waitAtB(real, co.number, co.version, 'valid');
  }
  toString = () => `replace #${this.pick} with ${this.quantity} KGM`;
}

class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.cos.some((c) => c.status === 'valid');
  async run(model: Model, real: Real) {
    const valid = model.cos.filter((c) => c.status === 'valid');
    const co = valid[this.pick % valid.length]!;
    const r = await api(real.pair.a, 'POST', `/certificates/${co.number}/cancel`, { reason: 'model: cancelled' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    co.status = 'cancelled';
    model.aIds.push(await lastIdTo(real, co.number));
    await waitAtB(real, co.number, co.version, 'cancelled');
  }
  toString = () => `cancel #${this.pick}`;
}

/** C sends a CO of its own under an id A already used, with one of A's numbers or a fresh one. */
class CollidingCo implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pickId: number,
    readonly sameNumber: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.aIds.length > 0;
  async run(model: Model, real: Real) {
    const id = model.aIds[this.pickId % model.aIds.length]!;
    const number = this.sameNumber && model.cos.length ? model.cos[this.pickId % model.cos.length]!.number : exampleCertificate().number;
    const dataset = exampleCertificate({ number, issuer: { partyId: real.c.partyId, name: 'KITA' } });
    const { envelope } = await real.c.send('certificate.issued', dataset, { id });
    const receipt = await real.c.receiptFor(envelope.id);
    assert.equal(receipt.status, 'accepted', JSON.stringify(receipt.errors));
  }
  toString = () => `C: a CO under A's id #${this.pickId}${this.sameNumber ? ", with A's number" : ''}`;
}

/** C cancels one of A's numbers. */
class ForeignCancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.cos.length > 0;
  async run(model: Model, real: Real) {
    const co = model.cos[this.pick % model.cos.length]!;
    const { envelope } = await real.c.send('certificate.cancelled', { certificateNumber: co.number, reason: "not C's to cancel", cancelledAt: new Date().toISOString() });
    await real.c.receiptFor(envelope.id);
  }
  toString = () => `C: cancel A's #${this.pick}`;
}

const UNITS = ['KGM', 'TNE', 'GRM', 'LBR', 'LTR'] as const;

/** Customs at B checks (and maybe confirms) a claim on one of A's COs, in a random unit, under a declaration maybe used before. */
class Claim implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly value: string,
    readonly unit: (typeof UNITS)[number],
    readonly declaration: number,
    readonly confirm: boolean,
    readonly retry: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.cos.length > 0;
  async run(model: Model, real: Real) {
    const co = model.cos[this.pick % model.cos.length]!;
    const declarationRef = `DECL-${this.declaration}`;
    const claim = {
      declarationRef,
      certificateNumber: co.number,
      issuer: A,
      exportCountry: 'KR',
      importer: { id: co.dataset.importer!.id },
      items: [{ itemNumber: 1, hsCode: co.dataset.items[0]!.hsCode, originCountry: 'KR', quantity: { value: this.value, unit: this.unit } }],
      confirm: this.confirm,
    };
    const key = `${co.number}/${declarationRef}`;
    const first = await api(real.pair.b, 'POST', '/clearance/checks', claim);
    const again = this.retry ? await api(real.pair.b, 'POST', '/clearance/checks', claim) : undefined;
    const inKgm = convert(exact(this.value), this.unit, 'KGM');
    const drawnBefore = model.drawn.get(co.number) ?? exact('0');
    const fits = inKgm !== undefined && compare(plus(drawnBefore, inKgm), exact(co.quantity)) <= 0;
    const earlier = model.declarations.get(key);
    if (!this.confirm) {
      assert.equal(first.status, 201, JSON.stringify(first.body));
      return;
    }
    if (earlier) {
      // The declaration drew on this CO before: the first check answers, nothing is drawn again.
      assert.deepEqual([first.status, first.body.id], [200, earlier], JSON.stringify(first.body));
      return;
    }
    if (co.status === 'cancelled') {
      assert.equal(first.body.decision, 'reject');
      return;
    }
    if (inKgm === undefined) {
      assert.equal(first.status, 409, `${this.unit} never draws: ${JSON.stringify(first.body)}`);
      return;
    }
    assert.equal(first.status, 201, JSON.stringify(first.body));
    if (fits) {
      assert.equal(first.body.status, 'confirmed', JSON.stringify(first.body));
      model.drawn.set(co.number, plus(drawnBefore, inKgm));
      model.declarations.set(key, first.body.id);
    } else {
      assert.deepEqual([first.body.decision, first.body.status], ['reject', 'checked'], JSON.stringify(first.body));
    }
    if (again && first.body.status === 'confirmed') assert.deepEqual([again.status, again.body.id], [200, first.body.id], 'a retry answers the first check');
  }
  toString = () => `claim ${this.value} ${this.unit} on #${this.pick} as DECL-${this.declaration}${this.confirm ? ' confirm' : ''}${this.retry ? ' twice' : ''}`;
}

/** A states the traffic of the last hour to B: the answer is match exactly when B holds what A sent. */
class Reconcile implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_model: Model, real: Real) {
    const period = { start: new Date(Date.now() - 3_600_000).toISOString(), end: new Date(Date.now() + 60_000).toISOString() };
    // Let what is on its way arrive: a statement races messages still in flight.
    await eventually(
      async () => ((await real.pair.a.db.query("SELECT 1 FROM outbox WHERE peer = $1 AND (status = 'queued' OR (status = 'sent' AND expects_receipt))", [B])).rowCount ? undefined : true),
      'A idle',
    );
    const answered = await reconcile(real.pair.a, B, period);
    const differs = await real.pair.a.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM outbox WHERE peer = $1 AND type NOT IN ('receipt', 'reconciliation.statement', 'reconciliation.answered') AND sent_at IS NOT NULL
          AND COALESCE(envelope_sent_at, created_at) >= $2 AND COALESCE(envelope_sent_at, created_at) < $3`,
      [B, period.start, period.end],
    );
    const held = await real.pair.b.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox WHERE from_party = $1 AND type NOT IN ('receipt', 'reconciliation.statement', 'reconciliation.answered')
          AND COALESCE(envelope_sent_at, received_at) >= $2 AND COALESCE(envelope_sent_at, received_at) < $3`,
      [A, period.start, period.end],
    );
    const same = differs.rows[0]!.n === held.rows[0]!.n;
    assert.equal(answered.result === 'match', same, `match only when the sides agree: A sent ${differs.rows[0]!.n}, B holds ${held.rows[0]!.n}, answered ${answered.result}`);
  }
  toString = () => 'reconcile A -> B';
}

/** The invariants of docs/architecture.md, on the real databases. */
async function checkInvariants(model: Model, real: Real): Promise<void> {
  const { a, b } = real.pair;
  model.steps++;
  // Only a CO's issuer changes it: every received row came in a message from its issuer (a key),
  // and A's COs show at B as A left them, whatever C sent.
  for (const co of model.cos) {
    const r = await api(b, 'GET', `/certificates/${co.number}?issuer=${A}`);
    assert.deepEqual([r.body.version, r.body.status], [co.version, co.status], `${co.number} at B`);
  }
  const foreign = await b.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM received_certificates r JOIN inbox i ON i.from_party = r.issuer_party AND i.message_id = r.message_id WHERE r.issuer_party <> i.from_party',
  );
  assert.equal(foreign.rows[0]!.n, 0);
  // Each authenticated (sender, id) stored or answered once: one inbox row (the key), each answered
  // by a receipt of its own, to its own sender.
  const answered = await b.db.query<{ unanswered: number; shared: number; misaddressed: number }>(
    `SELECT count(*) FILTER (WHERE i.receipt_id IS NULL AND i.type <> 'receipt')::int AS unanswered,
            (SELECT count(*) FROM (SELECT receipt_id FROM inbox WHERE receipt_id IS NOT NULL GROUP BY receipt_id HAVING count(*) > 1) x)::int AS shared,
            count(*) FILTER (WHERE o.peer <> i.from_party)::int AS misaddressed
       FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id`,
  );
  assert.deepEqual(answered.rows[0], { unanswered: 0, shared: 0, misaddressed: 0 });
  // Remaining = issued - confirmed drawdowns, in the CO's unit, never negative.
  const balances = await b.db.query<{ number: string; unit: string; issued: string; drawn: string; summed: string }>(
    `SELECT bal.number, bal.unit, bal.issued::text, bal.drawn::text, (SELECT COALESCE(sum(u.quantity), 0)::text FROM utilizations u WHERE u.issuer_party = bal.issuer_party AND u.number = bal.number AND u.item_number = bal.item_number) AS summed
       FROM item_balances bal WHERE bal.issuer_party = $1`,
    [A],
  );
  for (const row of balances.rows) {
    assert.equal(compare(exact(row.drawn), exact(row.summed)), 0, `${row.number}: the balance is the sum of its drawdowns`);
    assert.ok(compare(exact(row.drawn), exact(row.issued)) <= 0, `${row.number}: never below zero`);
    const expected = model.drawn.get(row.number);
    if (expected) assert.equal(format(exact(row.drawn)), format(expected), `${row.number}: drawn as the model says`);
  }
  // One outcome per declaration and item.
  const twice = await b.db.query<{ n: number }>('SELECT count(*)::int AS n FROM (SELECT 1 FROM utilizations GROUP BY issuer_party, number, item_number, declaration_ref HAVING count(*) > 1) x');
  assert.equal(twice.rows[0]!.n, 0);
  // A never received a use it did not report: every reported use at A comes from B, about a CO A issued to B.
  const stray = await a.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM reported_utilizations r WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.number = r.number AND c.importing_party = r.from_party)',
  );
  assert.equal(stray.rows[0]!.n, 0);
  // A's trust list names exactly the versions no longer valid, by number and version, as the model
  // says; a seal's h is the hash of the canonical bytes B received for that version.
  const list = JSON.parse(Buffer.from((await (await fetch(`${a.url}/.well-known/eco-trust.jws`)).text()).split('.')[1]!, 'base64url').toString()) as {
    status: { n: string; v: number; s: string }[];
  };
  const expected = model.cos.flatMap((co) => [
    ...Array.from({ length: co.version - 1 }, (_, i) => `${co.number} ${i + 1} replaced`),
    ...(co.status === 'cancelled' ? [`${co.number} ${co.version} cancelled`] : []),
  ]);
  const ofThisRun = new Set(model.cos.map((co) => co.number)); // the gateways outlive a run; the model does not
  const listed = list.status.filter((e) => ofThisRun.has(e.n));
  assert.deepEqual(listed.map((e) => `${e.n} ${e.v} ${e.s}`).sort(), expected.sort(), "A's trust list");
  // Numbers the pattern gave run from 1 without a gap or a repeat, in each year.
  const numbered = await a.db.query<{ year: string; seqs: number[] }>(
    "SELECT substring(number from 3 for 4) AS year, array_agg(substring(number from 8)::int ORDER BY substring(number from 8)::int) AS seqs FROM certificates WHERE number LIKE 'M-%' AND version = 1 GROUP BY 1",
  );
  for (const { year, seqs } of numbered.rows) {
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      `numbers of ${year}`,
    );
  }
  // Each certificate has one current version (every other is 'replaced'): what the lists show.
  const currentA = await a.db.query<{ n: number }>("SELECT count(*)::int AS n FROM (SELECT number FROM certificates GROUP BY number HAVING count(*) FILTER (WHERE status <> 'replaced') <> 1) x");
  const currentB = await b.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM (SELECT issuer_party, number FROM received_certificates GROUP BY 1, 2 HAVING count(*) FILTER (WHERE status <> 'replaced') <> 1) x",
  );
  assert.deepEqual([currentA.rows[0]!.n, currentB.rows[0]!.n], [0, 0], 'one current version per certificate');

  const hashes = await a.db.query<{ number: string; version: number; canonical_hash: string }>('SELECT number, version, canonical_hash FROM certificates');
  for (const row of hashes.rows) {
    const { rows } = await b.db.query<{ jws: string }>('SELECT jws FROM received_certificates WHERE issuer_party = $1 AND number = $2 AND version = $3', [A, row.number, row.version]);
    if (!rows[0]) continue; // not arrived yet
    const body = JSON.parse(Buffer.from(rows[0].jws.split('.')[1]!, 'base64url').toString()).body;
    assert.equal(row.canonical_hash, canonicalForm(body).hash, `${row.number} v${row.version}: h is over what B received`);
  }
}

describe(`model-based: random sequences over two gateways and a foreign peer (${RUNS} runs of up to ${STEPS} steps, seed ${SEED})`, () => {
  let real: Real;
  let steps = 0;
  before(async () => {
    const pair = await startPair();
    real = { pair, c: await foreignPeer(pair.b, pair.placeB.amqpUrl, 'KR-KITA', { countries: ['KR'] }) };
    await pair.a.db.query("INSERT INTO certificate_numbering (issuer_party, pattern, updated_by) VALUES ($1, 'M-{yyyy}-{seq:5}', 'model test')", [A]);
  });
  after(async () => {
    console.log(`# model-based test: ${steps} steps over ${RUNS} runs`);
    await real?.pair.stop();
  });

  it('keeps every invariant after every step', async () => {
    const quantity = fc.integer({ min: 1, max: 30 }).map((n) => n * 1000);
    const commands = [
      quantity.map((q) => new Issue(q)),
      quantity.map((q) => new IssueNumbered(q)),
      fc.tuple(fc.nat(), quantity).map(([p, q]) => new Replace(p, q)),
      fc.nat().map((p) => new Cancel(p)),
      fc.tuple(fc.nat(), fc.boolean()).map(([p, same]) => new CollidingCo(p, same)),
      fc.nat().map((p) => new ForeignCancel(p)),
      fc
        .tuple(fc.nat(), fc.constantFrom('0.5', '1', '2.25', '12', '500', '1000', '4000', '12000'), fc.constantFrom(...UNITS), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean())
        .map(([p, v, u, d, c, r]) => new Claim(p, v, u, d, c, r)),
      fc.constant(new Reconcile()),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: STEPS, size: 'max' }), async (cmds) => {
        const model: Model = { cos: [], aIds: [], drawn: new Map(), declarations: new Map(), steps: 0 };
        // Each run starts a fresh declaration namespace: the databases carry over between runs.
        const run = randomUUID().slice(0, 8);
        const scoped = [...cmds].map((cmd) => {
          if (cmd instanceof Claim) return new Claim(cmd.pick, cmd.value, cmd.unit, Number(`${parseInt(run, 16) % 1000}${cmd.declaration}`), cmd.confirm, cmd.retry);
          return cmd;
        });
        const checked = scoped.map((cmd) => ({
          check: (m: Readonly<Model>) => cmd.check(m),
          run: async (m: Model, r: Real) => {
            await cmd.run(m, r);
            await checkInvariants(m, r);
          },
          toString: () => cmd.toString(),
        }));
        await fc.asyncModelRun(() => ({ model, real }), checked);
        steps += model.steps;
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    assert.ok(steps > 0, 'steps ran');
  });
});
