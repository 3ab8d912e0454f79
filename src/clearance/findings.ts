// The rules of import clearance: a declaration's claim against the CO it cites. Pure: the service
// gathers the CO, its agreement and what was already drawn down, and decides from the findings.
import { z } from 'zod';
import { type Agreement, validUntil } from '../agreements/index.ts';
import type { Certificate } from '../dataset/index.ts';
import {
  add as addExact,
  certificateNumberSchema,
  compare,
  convert,
  decimalSchema as decimal,
  type Exact,
  exact,
  format,
  hsEditionOn,
  hsEditionSchema,
  partyIdSchema,
  subtract,
} from '../dataset/index.ts';

/** What origin is claimed for: preference under an agreement, or a non-preferential measure. */
export const claimPurposes = ['preference', 'quota', 'trade-remedy', 'origin-marking', 'statistics'] as const;

// Strict at every level: a member the gateway does not know is refused with its path, not ignored.
export const claimSchema = z
  .strictObject({
    declarationRef: z.string().trim().min(1).max(70),
    certificateNumber: certificateNumberSchema,
    issuer: partyIdSchema.optional().describe('issuing party, where numbers of two issuers clash'),
    certificateVersion: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('the version the declarant holds, if known; without it the current version is checked (CO_VERSION_CHECKED when it replaced others)'),
    exportCountry: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code such as KR'),
    importer: z.strictObject({ id: z.string().trim().min(1).max(35).optional(), name: z.string().trim().min(1).max(256).optional() }),
    invoice: z
      .strictObject({ number: z.string().trim().min(1).max(35), date: z.iso.date().optional() })
      .optional()
      .describe('the commercial invoice the goods are declared under; one the CO does not name is INVOICE_MISMATCH'),
    hsEdition: hsEditionSchema.optional().describe("the HS edition of the claim's codes (default: the CO's, which defaults to the edition in force on its issue date)"),
    declarationDate: z.iso.date().optional().describe('default: today (UTC)'),
    arrivalDate: z
      .union([z.iso.date(), z.iso.datetime({ offset: true }).max(40)], { error: 'must be a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset' })
      .optional()
      .describe("when the goods arrived, for advance-risk findings: a date, or a date-time with an offset to compare with the CO's arrival on the same day"),
    items: z
      .array(
        z.strictObject({
          itemNumber: z.number().int().min(1).describe('the goods item of the CO this declared item claims'),
          hsCode: z.string().regex(/^\d{6,10}$/, 'must be an HS code of 6 to 10 digits'),
          originCountry: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code such as KR'),
          quantity: z
            .strictObject({ value: decimal, unit: z.string().regex(/^[A-Z0-9]{2,3}$/, 'must be a UN/ECE Rec. 20 unit code such as KGM') })
            .describe("in any UN/ECE Rec. 20 unit: one of the CO item's dimension (mass, volume, length, area, count) is converted exactly"),
          value: z.strictObject({ amount: decimal, currency: z.string().regex(/^[A-Z]{3}$/) }).optional(),
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
  UNIT_CONVERTED: 'info',
  QUANTITY_EXCEEDED: 'reject',
  ISSUED_RETROACTIVELY: 'refer',
  ARRIVED_BEFORE_ISSUE: 'refer',
  RECEIVED_AFTER_GOODS: 'info',
  INVOICE_MISMATCH: 'refer',
  HS_EDITION_DIFFERS: 'refer',
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
  /** What earlier confirmed declarations drew down, per item number, in the CO item's unit. */
  used: Map<number, Exact>;
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
  if (claim.arrivalDate && claim.arrivalDate.slice(0, 10) < ds.issuedAt) {
    // Goods that arrived before the CO existed: only a CO issued retroactively, within its agreement's window, can cover them.
    const arrived = claim.arrivalDate.slice(0, 10);
    const window = agreement?.retroactiveDays;
    const covered = ds.flags?.issuedRetroactively && window != null && daysBetween(arrived, ds.issuedAt) <= window;
    if (!covered) {
      add(
        'ARRIVED_BEFORE_ISSUE',
        ['/arrivalDate'],
        ds.flags?.issuedRetroactively
          ? `the goods arrived on ${arrived}, more than the ${window ?? 0} days before the CO's issue on ${ds.issuedAt} that ${agreement?.code ?? 'its agreement'} allows retroactively`
          : `the goods arrived on ${arrived}, before the CO was issued on ${ds.issuedAt}, and it is not flagged as issued retroactively`,
      );
    }
  }
  if (claim.invoice) {
    const named = [ds.invoice, ...ds.items.map((i) => i.invoice)].filter((i): i is NonNullable<typeof i> => !!i);
    const same = (i: { number: string; date?: string }) => i.number.trim().toUpperCase() === claim.invoice!.number.toUpperCase() && (!claim.invoice!.date || !i.date || i.date === claim.invoice!.date);
    if (named.length > 0 && !named.some(same)) {
      add('INVOICE_MISMATCH', ['/invoice'], `the CO names invoice ${[...new Set(named.map((i) => `${i.number}${i.date ? ` of ${i.date}` : ''}`))].join(', ')}`);
    }
  }
  const digits = agreement?.hsMatchDigits ?? 6;
  const coEdition = ds.hsEdition ?? hsEditionOn(ds.issuedAt);
  const claimEdition = claim.hsEdition ?? coEdition;
  const correlation = coEdition === claimEdition ? undefined : agreement?.hsCorrelations?.find((c) => c.from === coEdition && c.to === claimEdition);
  const claimedPerItem = new Map<number, Exact>();
  claim.items.forEach((item, i) => {
    const onCo = ds.items.find((it) => it.itemNumber === item.itemNumber);
    const at = (field: string) => `/items/${i}/${field}`;
    if (!onCo) {
      add('ITEM_NOT_ON_CO', [at('itemNumber')], `the CO has no item ${item.itemNumber}`);
      return;
    }
    if (coEdition === claimEdition) {
      if (item.hsCode.slice(0, digits) !== onCo.hsCode.slice(0, digits)) add('HS_MISMATCH', [at('hsCode')], `the CO item is HS ${onCo.hsCode} (first ${digits} digits must match)`);
    } else if (correlation) {
      // Codes of two editions compare through the agreement's correlation table, at 6 digits.
      const targets = correlation.codes[onCo.hsCode.slice(0, 6)] ?? [onCo.hsCode.slice(0, 6)];
      if (!targets.includes(item.hsCode.slice(0, 6))) {
        add('HS_MISMATCH', [at('hsCode')], `the CO item is ${coEdition} ${onCo.hsCode}, which is ${targets.join(' or ')} in ${claimEdition}`);
      }
    } else {
      add(
        'HS_EDITION_DIFFERS',
        [at('hsCode')],
        `the CO item is ${coEdition} ${onCo.hsCode} and the claim is ${claimEdition} ${item.hsCode}: no ${coEdition} to ${claimEdition} correlation is known here`,
      );
    }
    if (item.originCountry !== onCo.originCountry) add('ORIGIN_MISMATCH', [at('originCountry')], `the CO item originates in ${onCo.originCountry}`);
    const coUnit = onCo.quantity.unit;
    const inCoUnit = convert(exact(item.quantity.value), item.quantity.unit, coUnit);
    if (!inCoUnit) {
      // Never drawn: no exact conversion says how much of the CO it would use.
      add('UNIT_MISMATCH', [at('quantity/unit')], `the CO item is counted in ${coUnit}, which ${item.quantity.unit} does not convert to`);
      return;
    }
    if (item.quantity.unit !== coUnit) add('UNIT_CONVERTED', [at('quantity')], `${item.quantity.value} ${item.quantity.unit} is ${format(inCoUnit)} ${coUnit}, the CO item's unit`);
    const claimed = addExact(claimedPerItem.get(item.itemNumber) ?? exact('0'), inCoUnit);
    claimedPerItem.set(item.itemNumber, claimed);
    const remaining = subtract(exact(onCo.quantity.value), used.get(item.itemNumber) ?? exact('0'));
    if (compare(claimed, remaining) > 0) {
      const left = compare(remaining, exact('0')) < 0 ? '0' : format(remaining);
      add('QUANTITY_EXCEEDED', [at('quantity/value')], `${left} ${coUnit} remain of ${onCo.quantity.value} on item ${item.itemNumber}; this claim is ${format(claimed)} ${coUnit}`);
    }
  });
  return findings;
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
}

/** The claim's quantity of each item in the CO item's unit, for drawdown; undefined where it does not convert. */
export function inCertificateUnits(claim: Claim, co: Certificate): Map<number, { quantity: Exact; unit: string; claimed: string }[]> | undefined {
  const perItem = new Map<number, { quantity: Exact; unit: string; claimed: string }[]>();
  for (const item of claim.items) {
    const onCo = co.items.find((i) => i.itemNumber === item.itemNumber);
    const quantity = onCo && convert(exact(item.quantity.value), item.quantity.unit, onCo.quantity.unit);
    if (!onCo || !quantity) return undefined;
    perItem.set(item.itemNumber, [...(perItem.get(item.itemNumber) ?? []), { quantity, unit: onCo.quantity.unit, claimed: `${item.quantity.value} ${item.quantity.unit}` }]);
  }
  return perItem;
}

export function decide(findings: Finding[]): 'accept' | 'refer' | 'reject' {
  if (findings.some((f) => f.severity === 'reject')) return 'reject';
  if (findings.some((f) => f.severity === 'refer')) return 'refer';
  return 'accept';
}
