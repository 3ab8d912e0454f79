// The rules of import clearance: a declaration's claim against the CO it cites. Pure: the service
// gathers the CO, its agreement and what was already drawn down, and decides from the findings.
import { z } from 'zod';
import { type Agreement, validUntil } from '../agreements/index.ts';
import type { Certificate } from '../dataset/index.ts';
import { certificateNumberSchema, decimalSchema as decimal, fromScaled, partyIdSchema, toScaled } from '../dataset/index.ts';

/** What origin is claimed for: preference under an agreement, or a non-preferential measure. */
export const claimPurposes = ['preference', 'quota', 'trade-remedy', 'origin-marking', 'statistics'] as const;

export const claimSchema = z
  .object({
    declarationRef: z.string().trim().min(1).max(70),
    certificateNumber: certificateNumberSchema,
    issuer: partyIdSchema.optional().describe('issuing party, where numbers of two issuers clash'),
    certificateVersion: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('the version the declarant holds, if known; without it the current version is checked (CO_VERSION_CHECKED when it replaced others)'),
    exportCountry: z.string().regex(/^[A-Z]{2}$/),
    importer: z.object({ id: z.string().trim().min(1).max(35).optional(), name: z.string().trim().min(1).max(256).optional() }),
    declarationDate: z.iso.date().optional().describe('default: today (UTC)'),
    arrivalDate: z
      .union([z.iso.date(), z.iso.datetime({ offset: true }).max(40)], { error: 'must be a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset' })
      .optional()
      .describe("when the goods arrived, for advance-risk findings: a date, or a date-time with an offset to compare with the CO's arrival on the same day"),
    items: z
      .array(
        z.object({
          itemNumber: z.number().int().min(1).describe('the goods item of the CO this declared item claims'),
          hsCode: z.string().regex(/^\d{6,10}$/),
          originCountry: z.string().regex(/^[A-Z]{2}$/),
          quantity: z.object({ value: decimal, unit: z.string().regex(/^[A-Z0-9]{2,3}$/) }),
          value: z.object({ amount: decimal, currency: z.string().regex(/^[A-Z]{3}$/) }).optional(),
        }),
      )
      .min(1)
      .max(999)
      .describe('at most 999, as a CO has'),
    purpose: z
      .enum(claimPurposes)
      .default('preference')
      .describe(
        'what origin is claimed for: preference under an agreement (the default; needs a preferential CO or an origin declaration its agreement provides for), ' +
          'or a non-preferential purpose (quota, trade-remedy measures, origin marking, statistics) that a CO of any kind can prove',
      ),
    agreement: z
      .string()
      .min(2)
      .max(35)
      .optional()
      .describe(
        "the agreement under which preference is claimed (default: the CO's; needed for the Pull model). " +
          'A CO issued under another agreement is rejected (AGREEMENT_MISMATCH) unless this one accepts its COs (acceptsCertificatesOf)',
      ),
    waitSeconds: z.number().int().min(0).max(10).default(0).describe('Pull model: how long to wait for a requested CO before answering'),
    confirm: z.boolean().default(false).describe('draw the quantities down at once if the decision is not reject'),
  })
  .meta({ description: "A declaration's claim of origin: to preferential treatment, or for a non-preferential purpose" });
export type Claim = z.infer<typeof claimSchema>;

export type Severity = 'reject' | 'refer' | 'info';
export const findingCodes = {
  CO_NOT_RECEIVED: 'refer',
  CO_REQUESTED: 'refer',
  CO_CANCELLED: 'reject',
  CO_REPLACED: 'refer',
  CO_VERSION_CHECKED: 'info',
  CO_EXPIRED: 'reject',
  CO_NOT_PREFERENTIAL: 'reject',
  AGREEMENT_MISMATCH: 'reject',
  EXPORT_COUNTRY_MISMATCH: 'reject',
  IMPORTER_MISMATCH: 'refer',
  ITEM_NOT_ON_CO: 'reject',
  HS_MISMATCH: 'reject',
  ORIGIN_MISMATCH: 'reject',
  UNIT_MISMATCH: 'refer',
  QUANTITY_EXCEEDED: 'reject',
  ISSUED_RETROACTIVELY: 'refer',
  RECEIVED_AFTER_GOODS: 'info',
  VERIFICATION_PENDING: 'refer',
  VERIFICATION_NOT_CONFIRMED: 'reject',
  VERIFICATION_PARTIALLY_CONFIRMED: 'refer',
} as const satisfies Record<string, Severity>;
export type FindingCode = keyof typeof findingCodes;

export type Finding = { code: FindingCode; severity: Severity; fields: string[]; message: string };

export type ReceivedCertificate = {
  issuer: string;
  version: number;
  status: 'valid' | 'replaced' | 'cancelled';
  dataset: Certificate;
  receivedAt: Date;
  cancellationReason: string | null;
};

export type Context = {
  /** The CO's agreement: its rules (validity, severities, HS digits) apply to the check. */
  agreement?: Agreement;
  /** The agreement the claim names, where it is not the CO's and is known here. */
  claimedAgreement?: Agreement;
  /** What earlier confirmed declarations drew down, per item number, as scaled decimals. */
  used: Map<number, bigint>;
  today: string;
  /** The latest verification this gateway requested about the CO. */
  verification?: { status: 'open' | 'answered'; result: string | null; findings: string | null };
};

/** Findings for `claim` against the current version of the CO, or its absence. */
export function assess(claim: Claim, co: ReceivedCertificate | undefined, context: Context): Finding[] {
  const { agreement, claimedAgreement, used, today, verification } = context;
  const findings: Finding[] = [];
  const severities = agreement?.findingSeverities ?? {};
  const add = (code: FindingCode, fields: string[], message: string) => findings.push({ code, severity: severities[code] ?? findingCodes[code], fields, message });

  if (!co) {
    // Never issued and not yet received look the same from here.
    add('CO_NOT_RECEIVED', ['/certificateNumber'], `certificate ${claim.certificateNumber} has not been received`);
    return findings;
  }
  const ds = co.dataset;
  if (co.status === 'cancelled') add('CO_CANCELLED', ['/certificateNumber'], `cancelled by ${co.issuer}: ${co.cancellationReason ?? 'no reason given'}`);
  if (claim.certificateVersion !== undefined && claim.certificateVersion < co.version) {
    add('CO_REPLACED', ['/certificateVersion'], `version ${claim.certificateVersion} was replaced; the current version is ${co.version}`);
  } else if (claim.certificateVersion === undefined && co.version > 1) {
    // The declarant may hold an earlier paper or PDF version: say which one was checked.
    add('CO_VERSION_CHECKED', ['/certificateVersion'], `version ${co.version} (the current one) was checked; earlier versions were replaced`);
  }
  if (claim.purpose === 'preference') {
    // A non-preferential CO proves origin but grants nothing; an origin declaration only where its agreement provides for one.
    if (ds.kind === 'non-preferential') add('CO_NOT_PREFERENTIAL', ['/kind'], 'the CO is non-preferential: it proves origin for non-preferential purposes only');
    else if (agreement && !agreement.kinds.includes(ds.kind)) add('CO_NOT_PREFERENTIAL', ['/kind'], `${agreement.code} does not provide for ${ds.kind} certificates`);
  }
  // A claim naming no agreement claims the CO's. Another one may accept the CO's agreement, as data.
  if (claim.agreement && ds.agreement && claim.agreement !== ds.agreement && !claimedAgreement?.acceptsCertificatesOf.includes(ds.agreement)) {
    add('AGREEMENT_MISMATCH', ['/agreement'], `the CO was issued under ${ds.agreement}, which ${claim.agreement} does not accept`);
  }
  const declared = claim.declarationDate ?? today;
  if (agreement && declared > validUntil(ds.issuedAt, agreement)) {
    add('CO_EXPIRED', ['/declarationDate'], `valid until ${validUntil(ds.issuedAt, agreement)} under ${agreement.code}`);
  }
  if (claim.exportCountry !== ds.exportCountry) add('EXPORT_COUNTRY_MISMATCH', ['/exportCountry'], `the CO was issued for exports from ${ds.exportCountry}`);
  const importer = ds.importer;
  if (
    importer &&
    ((claim.importer.id && importer.id && claim.importer.id !== importer.id) || (!claim.importer.id && claim.importer.name && claim.importer.name.toLowerCase() !== importer.name.toLowerCase()))
  ) {
    add('IMPORTER_MISMATCH', ['/importer'], `the CO names ${importer.name}${importer.id ? ` (${importer.id})` : ''} as importer`);
  }
  if (verification?.status === 'open') add('VERIFICATION_PENDING', ['/certificateNumber'], 'a verification request to the issuer is open');
  if (verification?.result === 'not-confirmed') add('VERIFICATION_NOT_CONFIRMED', ['/certificateNumber'], `the issuer did not confirm the CO: ${verification.findings ?? ''}`);
  if (verification?.result === 'partially-confirmed') add('VERIFICATION_PARTIALLY_CONFIRMED', ['/certificateNumber'], `the issuer confirmed the CO in part: ${verification.findings ?? ''}`);
  if (ds.flags?.issuedRetroactively) add('ISSUED_RETROACTIVELY', ['/certificateNumber'], `issued retroactively on ${ds.issuedAt}`);
  if (claim.arrivalDate) {
    // A date can only tell days apart (in UTC); a date-time tells instants apart.
    const isDate = claim.arrivalDate.length === 10;
    const arrived = isDate ? co.receivedAt.toISOString().slice(0, 10) : co.receivedAt.toISOString();
    if (isDate ? arrived > claim.arrivalDate : co.receivedAt.getTime() > Date.parse(claim.arrivalDate)) {
      add('RECEIVED_AFTER_GOODS', ['/arrivalDate'], `the CO arrived ${isDate ? 'on' : 'at'} ${arrived}, after the goods: no advance risk assessment`);
    }
  }
  const digits = agreement?.hsMatchDigits ?? 6;
  const claimedPerItem = new Map<number, bigint>();
  claim.items.forEach((item, i) => {
    const onCo = ds.items.find((it) => it.itemNumber === item.itemNumber);
    const at = (field: string) => `/items/${i}/${field}`;
    if (!onCo) {
      add('ITEM_NOT_ON_CO', [at('itemNumber')], `the CO has no item ${item.itemNumber}`);
      return;
    }
    if (item.hsCode.slice(0, digits) !== onCo.hsCode.slice(0, digits)) add('HS_MISMATCH', [at('hsCode')], `the CO item is HS ${onCo.hsCode} (first ${digits} digits must match)`);
    if (item.originCountry !== onCo.originCountry) add('ORIGIN_MISMATCH', [at('originCountry')], `the CO item originates in ${onCo.originCountry}`);
    if (item.quantity.unit !== onCo.quantity.unit) {
      add('UNIT_MISMATCH', [at('quantity/unit')], `the CO item is counted in ${onCo.quantity.unit}`);
      return;
    }
    const claimed = (claimedPerItem.get(item.itemNumber) ?? 0n) + toScaled(item.quantity.value);
    claimedPerItem.set(item.itemNumber, claimed);
    const remaining = toScaled(onCo.quantity.value) - (used.get(item.itemNumber) ?? 0n);
    if (claimed > remaining) {
      add('QUANTITY_EXCEEDED', [at('quantity/value')], `${fromScaled(remaining < 0n ? 0n : remaining)} ${onCo.quantity.unit} remain of ${onCo.quantity.value} on item ${item.itemNumber}`);
    }
  });
  return findings;
}

export function decide(findings: Finding[]): 'accept' | 'refer' | 'reject' {
  if (findings.some((f) => f.severity === 'reject')) return 'reject';
  if (findings.some((f) => f.severity === 'refer')) return 'refer';
  return 'accept';
}
