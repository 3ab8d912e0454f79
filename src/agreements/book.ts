// Agreements as data (admin API), and the rules a certificate must meet under its agreement.
// The same rules run at issue (422) and at receipt (NOT_A_PARTY / SCHEMA_INVALID).

import { z } from 'zod';
import { audited } from '../audit/index.ts';
import { type Certificate, certificateKinds, hsEditionSchema } from '../dataset/index.ts';
import type { Db, DbClient, Queryable } from '../db/index.ts';

/** Severity per finding code; a bounded map (its maxProperties shows in the contract as a component). */
export const findingSeveritiesSchema = z
  .record(z.string().regex(/^[A-Z_]{1,40}$/), z.enum(['reject', 'refer', 'info']))
  .refine((severities) => Object.keys(severities).length <= 50, 'at most 50 finding codes')
  .meta({ maxProperties: 50 });

const hs6 = z.string().regex(/^\d{6}$/, 'must be a 6-digit HS subheading');
/** A correlation table between two HS editions (the WCO publishes them): each subheading of `from` and what it became in `to`. */
export const hsCorrelationSchema = z.strictObject({
  from: hsEditionSchema,
  to: hsEditionSchema,
  codes: z
    .record(hs6, z.array(hs6).min(1).max(50))
    .refine((codes) => Object.keys(codes).length <= 10_000, 'at most 10,000 subheadings')
    .meta({ maxProperties: 10_000 })
    .describe('subheading in `from` -> its subheadings in `to`; one not listed is unchanged'),
});

export const agreementCodeSchema = z.string().regex(/^[A-Za-z0-9-]{2,35}$/, 'must be 2-35 letters, digits or hyphens');

export const agreementInputSchema = z.object({
  name: z.string().trim().min(1).max(256),
  parties: z
    .array(z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code'))
    .min(2)
    .max(100),
  kinds: z.array(z.enum(certificateKinds)).min(1).max(3),
  originCriteria: z.array(z.string().trim().min(1).max(35)).max(50).default([]).describe('accepted origin criterion codes; empty accepts any'),
  validityDays: z.number().int().positive().describe('how long a CO stays valid after its issue date'),
  retroactiveDays: z.number().int().min(0).nullable().default(null).describe('how long after shipment a CO may still be issued; null: never'),
  example: z.boolean().default(false).describe('true for the example agreements shipped with the demo'),
  hsMatchDigits: z.number().int().min(2).max(10).default(6).describe('import clearance: how many leading HS digits of a declared item must match the CO'),
  findingSeverities: findingSeveritiesSchema.default({}).describe('import clearance: severity per finding code, overriding the defaults'),
  pullAllowed: z.boolean().default(false).describe('Pull model: may the importing side request a CO it has not received'),
  acceptsCertificatesOf: z.array(agreementCodeSchema).max(50).default([]).describe('import clearance: agreements whose COs a claim under this agreement accepts; by default only its own'),
  hsCorrelations: z
    .array(hsCorrelationSchema)
    .max(10)
    .default([])
    .describe('import clearance: how HS codes of one edition compare with another (a CO and a claim may state their editions); without one, a claim in another edition is HS_EDITION_DIFFERS'),
});
export type AgreementInput = z.infer<typeof agreementInputSchema>;
export type Agreement = AgreementInput & { code: string };

type AgreementRow = {
  code: string;
  name: string;
  parties: string[];
  kinds: Agreement['kinds'];
  origin_criteria: string[];
  validity_days: number;
  retroactive_days: number | null;
  example: boolean;
  hs_match_digits: number;
  finding_severities: Record<string, 'reject' | 'refer' | 'info'>;
  pull_allowed: boolean;
  accepts_certificates_of: string[];
  hs_correlations: Agreement['hsCorrelations'];
};

const toAgreement = (r: AgreementRow): Agreement => ({
  code: r.code,
  name: r.name,
  parties: r.parties,
  kinds: r.kinds,
  originCriteria: r.origin_criteria,
  validityDays: r.validity_days,
  retroactiveDays: r.retroactive_days,
  example: r.example,
  hsMatchDigits: r.hs_match_digits,
  findingSeverities: r.finding_severities,
  pullAllowed: r.pull_allowed,
  acceptsCertificatesOf: r.accepts_certificates_of,
  hsCorrelations: r.hs_correlations,
});

export class AgreementBook {
  // Read on every message and issue; a short cache, as for peers.
  private readonly cache = new Map<string, { agreement: Agreement | undefined; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5000,
  ) {}

  /** Inside a transaction pass its client: waiting for a second pool connection there can deadlock. */
  async find(code: string, via: Queryable = this.db): Promise<Agreement | undefined> {
    const cached = this.cache.get(code);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.agreement;
    const { rows } = await via.query<AgreementRow>('SELECT * FROM agreements WHERE code = $1', [code]);
    const agreement = rows[0] && toAgreement(rows[0]);
    this.cache.set(code, { agreement, at: Date.now() });
    return agreement;
  }

  async list(): Promise<Agreement[]> {
    const { rows } = await this.db.query<AgreementRow>('SELECT * FROM agreements ORDER BY code');
    return rows.map(toAgreement);
  }

  async upsert(code: string, input: AgreementInput, actor: string): Promise<Agreement> {
    const save = (client: DbClient) =>
      client.query<AgreementRow>(
        `INSERT INTO agreements (code, name, parties, kinds, origin_criteria, validity_days, retroactive_days, example, hs_match_digits, finding_severities, pull_allowed, accepts_certificates_of, hs_correlations)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (code) DO UPDATE SET name = $2, parties = $3, kinds = $4, origin_criteria = $5, validity_days = $6,
           retroactive_days = $7, example = $8, hs_match_digits = $9, finding_severities = $10, pull_allowed = $11, accepts_certificates_of = $12, hs_correlations = $13, updated_at = now()
         RETURNING *`,
        [
          code,
          input.name,
          input.parties,
          input.kinds,
          input.originCriteria,
          input.validityDays,
          input.retroactiveDays,
          input.example,
          input.hsMatchDigits,
          JSON.stringify(input.findingSeverities),
          input.pullAllowed,
          input.acceptsCertificatesOf,
          JSON.stringify(input.hsCorrelations),
        ],
      );
    const { rows } = await audited(this.db, save, () => ({ actor, action: 'agreement.saved', subject: code, data: input }));
    this.cache.delete(code);
    return toAgreement(rows[0]!);
  }
}

export type RuleViolation = { code: 'NOT_A_PARTY' | 'SCHEMA_INVALID'; pointer: string; message: string };

const DAY_MS = 86_400_000;

/**
 * The rules of the certificate's agreement, between the exporting and the importing party.
 * `peerAgreements` are the agreements registered for the other gateway: both must be party to it.
 * A non-preferential CO needs no agreement: it travels under the bilateral arrangement that the
 * peer registration itself is.
 */
export function agreementViolations(co: Certificate, agreement: Agreement | undefined, peerAgreements: string[]): RuleViolation[] {
  if (!co.agreement) return [];
  const notAParty = (message: string): RuleViolation[] => [{ code: 'NOT_A_PARTY', pointer: '/agreement', message }];
  if (!agreement) return notAParty(`agreement ${co.agreement} is not known to this gateway`);
  if (!peerAgreements.includes(agreement.code)) return notAParty(`the other gateway is not registered as party to ${agreement.code}`);
  for (const [field, country] of [
    ['exportCountry', co.exportCountry],
    ['importCountry', co.importCountry],
  ] as const) {
    if (!agreement.parties.includes(country)) return [{ code: 'NOT_A_PARTY', pointer: `/${field}`, message: `${country} is not a party to ${agreement.code}` }];
  }
  const violations: RuleViolation[] = [];
  const rule = (pointer: string, message: string) => violations.push({ code: 'SCHEMA_INVALID', pointer, message: `${agreement.code}: ${message}` });
  if (!agreement.kinds.includes(co.kind)) rule('/kind', `does not provide for ${co.kind} certificates (only ${agreement.kinds.join(', ')})`);
  co.items.forEach((item, i) => {
    if (co.kind !== 'non-preferential' && agreement.originCriteria.length && item.originCriterion && !agreement.originCriteria.includes(item.originCriterion)) {
      rule(`/items/${i}/originCriterion`, `origin criterion ${item.originCriterion} is not one of ${agreement.originCriteria.join(', ')}`);
    }
    if (co.kind !== 'non-preferential' && !co.flags?.cumulation && !agreement.parties.includes(item.originCountry)) {
      rule(`/items/${i}/originCountry`, `${item.originCountry} is not a party; origin from a non-party needs the cumulation flag`);
    }
  });
  const departure = co.transport?.departureDate;
  if (departure && departure < co.issuedAt) {
    const daysLate = (Date.parse(co.issuedAt) - Date.parse(departure)) / DAY_MS;
    if (agreement.retroactiveDays === null) rule('/issuedAt', 'does not allow issuing after the goods were shipped');
    else if (daysLate > agreement.retroactiveDays) rule('/issuedAt', `allows issuing at most ${agreement.retroactiveDays} days after shipment, not ${daysLate}`);
  }
  return violations;
}

/** The last day a CO issued on `issuedAt` is valid under `agreement`. */
export function validUntil(issuedAt: string, agreement: Agreement): string {
  return new Date(Date.parse(issuedAt) + agreement.validityDays * DAY_MS).toISOString().slice(0, 10);
}

/**
 * At issue only: a CO that expires in transit must still be stored where it arrives. The issue
 * date lies no later than tomorrow (an issuer east of UTC may already be there) and leaves the CO
 * valid today under its agreement. `today` is a UTC date.
 */
export function issueDateProblem(co: Certificate, agreement: Agreement | undefined, today: string): string | undefined {
  const tomorrow = new Date(Date.parse(today) + DAY_MS).toISOString().slice(0, 10);
  if (co.issuedAt > tomorrow) return `${co.issuedAt} is after tomorrow (${tomorrow}, UTC): a CO is not issued in advance`;
  if (agreement && validUntil(co.issuedAt, agreement) < today) {
    return `issued on ${co.issuedAt} the CO was valid until ${validUntil(co.issuedAt, agreement)} under ${agreement.code}: it would arrive expired`;
  }
  return undefined;
}
