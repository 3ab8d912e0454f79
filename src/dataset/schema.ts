// The e-CO dataset exactly as the exchange profile fixes it (docs/wire.md) ("The certificate"), shaped after the WCO Data
// Model's CO Derived Information Package. One schema serves REST input and inbound messages.
import currencyCodes from 'currency-codes';
import { z } from 'zod';
import { type CodeList, codeLists } from './code-lists.ts';
import { countrySchema, isCountry, partyIdSchema } from './codes.ts';
import { add, compare as compareExact, exact, format } from './decimal.ts';

// Code lists: ISO 3166-1 and ISO 4217 come from maintained packages; UN/ECE Rec. 20 (units) and
// Rec. 21 (package kinds) are vendored in code-lists/ (docs/code-lists.md); Rec. 19 has ten codes,
// all listed here. UN/LOCODE is not vendored yet: a LOCODE is checked by format and its country
// part against ISO 3166-1, and by the list itself once code-lists/ holds it.
// The format first (it bounds the length, and shows in the contract), then the list.
const coded = (format: RegExp, inList: (code: string) => boolean, message: string) => z.string().regex(format, { error: message, abort: true }).refine(inList, message);
/** A code of a vendored UN/ECE list: the message names the code, the list and its edition. */
const listed = (format: RegExp, formatMessage: string, list: CodeList, what: string) =>
  z
    .string()
    .regex(format, { error: formatMessage, abort: true })
    .refine((code) => list.has(code), { error: (issue) => `${what} '${String(issue.input)}' is not in ${list.name}, ${list.edition}` });
const country = countrySchema;
const currency = coded(/^[A-Z]{3}$/, (code) => currencyCodes.code(code) !== undefined, 'must be an ISO 4217 currency code such as USD');
const locodeFormat = /^[A-Z]{2}[A-Z2-9]{3}$/;
const locodeMessage = 'must be a UN/LOCODE such as KRPUS (ISO country + 3 letters or digits 2-9)';
const locode = codeLists.unlocode ? listed(locodeFormat, locodeMessage, codeLists.unlocode, 'location') : coded(locodeFormat, (code) => isCountry(code.slice(0, 2)), locodeMessage);
const required = (list: CodeList | undefined, name: string): CodeList => {
  if (!list) throw new Error(`the ${name} code list is missing from src/dataset/code-lists/ (see docs/code-lists.md)`);
  return list;
};
const unitCode = listed(/^[A-Z0-9]{2,3}$/, 'must be a UN/ECE Rec. 20 unit code such as KGM', required(codeLists.rec20, 'UN/ECE Rec. 20'), 'unit');
const packageKind = listed(/^[A-Z0-9]{2}$/, 'must be a UN/ECE Rec. 21 package code such as CT', required(codeLists.rec21, 'UN/ECE Rec. 21'), 'package kind');
const transportModes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const; // UN/ECE Rec. 19
const date = z.iso.date('must be a date YYYY-MM-DD');
/** Decimals travel as strings (PROFILE): up to 18 integer and 6 fraction digits. */
export const decimalSchema = z.string().regex(/^\d{1,18}(\.\d{1,6})?$/, 'must be a non-negative decimal string such as "1200.50"');
const decimal = decimalSchema;
const text = (max: number) => z.string().trim().min(1).max(max);
const measure = z.object({ value: decimal, unit: unitCode });
const amount = z.object({ amount: decimal, currency });

/** The Harmonized System's chapters are 01 to 97; 77 is reserved for future use (00, 98 and 99 are not HS). */
const isHsChapter = (code: string) => {
  const chapter = Number(code.slice(0, 2));
  return chapter >= 1 && chapter <= 97 && chapter !== 77;
};

export const certificateNumberSchema = z.string().regex(/^[A-Za-z0-9/.-]{1,35}$/, 'must be 1-35 characters of A-Z a-z 0-9 / - .');

export const certificateKinds = ['preferential', 'non-preferential', 'origin-declaration'] as const;

const address = z.object({
  line: text(256).optional(),
  city: text(70).optional(),
  postcode: text(17).optional(),
  country,
});

const party = z.object({
  name: text(256),
  id: text(35).optional(),
  address: address.optional(),
});

const signatory = z.object({ name: text(70), title: text(70).optional() });
const attestation = z.object({ place: text(70), date, signatory });
const invoice = z.object({ number: text(35), date: date.optional() });

const item = z.object({
  itemNumber: z.number().int().min(1).max(9999).describe('unique within the certificate; quantities drawn down at clearance refer to it'),
  description: text(512).describe('description of the goods'),
  hsCode: z
    .string()
    .regex(/^\d{6,10}$/, { error: 'must be an HS code of 6 to 10 digits', abort: true })
    .refine(isHsChapter, 'must begin with an HS chapter, 01 to 97 (77 is reserved)')
    .describe('Harmonized System code, 6 to 10 digits, beginning with a chapter 01-97 other than 77'),
  originCountry: country.describe('country of origin of the goods (ISO 3166-1 alpha-2)'),
  originCriterion: text(35).optional().describe("the agreement's origin criterion met (WO, PE, CTH, RVC40, …); required unless kind is non-preferential"),
  quantity: measure.describe('quantity in a UN/ECE Rec. 20 unit; what clearance draws down'),
  grossWeight: measure.optional(),
  packages: z
    .object({
      count: z.number().int().min(0),
      kind: packageKind,
      marks: text(512).optional(),
    })
    .optional(),
  value: amount.optional(),
  invoice: invoice.optional(),
});

export const hsEditionSchema = z.enum(['HS2007', 'HS2012', 'HS2017', 'HS2022', 'HS2028']).describe('a Harmonized System edition');

export const certificateSchema = z
  .object({
    number: certificateNumberSchema.describe("the issuer's certificate number: unique per issuer, the same in every version"),
    version: z.number().int().min(1).describe('1 when issued; a replacement has a higher version'),
    kind: z.enum(certificateKinds).describe('preferential (under an agreement), non-preferential, or an origin declaration by an approved exporter'),
    agreement: text(35).optional().describe('code of the trade agreement (GET /admin/agreements); required unless kind is non-preferential'),
    issuedAt: date.describe('date of issue (YYYY-MM-DD)'),
    issuer: z.object({ partyId: partyIdSchema, name: text(256) }).describe('the issuing authority; partyId is the gateway that signs and sends the certificate'),
    exporter: party.describe('the exporter (consignor)'),
    producer: party.optional().describe('the producer, when not the exporter'),
    importer: party.optional().describe('the importer (consignee)'),
    exportCountry: country.describe("country of export: the issuer's (ISO 3166-1 alpha-2)"),
    importCountry: country.describe("country of import: the receiving party's (ISO 3166-1 alpha-2)"),
    transport: z
      .object({
        mode: z.enum(transportModes, 'must be a UN/ECE Rec. 19 transport mode code (0-9)').optional(),
        means: text(70).optional(),
        loadingPort: locode.optional(),
        dischargePort: locode.optional(),
        departureDate: date.optional(),
      })
      .optional(),
    invoice: invoice.optional(),
    items: z.array(item).min(1).max(999).describe('the goods, 1 to 999 items'),
    hsEdition: hsEditionSchema.optional().describe("extension (optional): the HS edition of the items' codes; default: the edition in force on issuedAt"),
    remarks: z.string().max(2000).optional(),
    totals: z
      .object({ packages: z.number().int().min(0).optional(), grossWeight: measure.optional(), value: amount.optional() })
      .optional()
      .describe('extension (optional): totals of the items, checked against them'),
    flags: z
      .object({
        issuedRetroactively: z.boolean().optional(),
        backToBack: z.boolean().optional(),
        thirdPartyInvoicing: z.boolean().optional(),
        exhibition: z.boolean().optional(),
        cumulation: z.boolean().optional(),
      })
      .optional(),
    exporterAuthorization: text(35).optional().describe("the approved exporter's authorization number; required when kind is origin-declaration"),
    exporterDeclaration: attestation.optional().describe("the exporter's declaration: place, date, signatory"),
    certification: attestation.optional().describe("the issuing authority's certification: place, date, signatory; required unless kind is origin-declaration"),
    replaces: z
      .object({ number: certificateNumberSchema, version: z.number().int().min(1) })
      .optional()
      .describe('the version this one replaces (certificate.replaced only)'),
  })
  .superRefine((co, ctx) => {
    const preferential = co.kind !== 'non-preferential';
    if (preferential && !co.agreement) {
      ctx.addIssue({ code: 'custom', path: ['agreement'], message: `is required for a ${co.kind} certificate` });
    }
    co.items.forEach((it, index) => {
      if (preferential && !it.originCriterion) {
        ctx.addIssue({ code: 'custom', path: ['items', index, 'originCriterion'], message: `is required for a ${co.kind} certificate` });
      }
    });
    const seen = new Set<number>();
    co.items.forEach((it, index) => {
      if (seen.has(it.itemNumber)) ctx.addIssue({ code: 'custom', path: ['items', index, 'itemNumber'], message: `item number ${it.itemNumber} is used twice` });
      seen.add(it.itemNumber);
    });
    if (co.kind === 'origin-declaration' && !co.exporterAuthorization) {
      ctx.addIssue({ code: 'custom', path: ['exporterAuthorization'], message: 'is required for an origin declaration' });
    }
    if (co.kind !== 'origin-declaration' && !co.certification) {
      ctx.addIssue({ code: 'custom', path: ['certification'], message: `is required for a ${co.kind} certificate` });
    }
    checkDates(co, ctx);
    checkTotals(co, ctx);
  })
  .meta({ id: 'Certificate', description: 'An e-CO dataset (docs/wire.md "The certificate", WCO Data Model CO Derived Information Package)' });

export type Certificate = z.infer<typeof certificateSchema>;

/** The Harmonized System's editions, by the date each came into force (WCO). */
const HS_EDITIONS = [
  ['HS2007', '2007-01-01'],
  ['HS2012', '2012-01-01'],
  ['HS2017', '2017-01-01'],
  ['HS2022', '2022-01-01'],
  ['HS2028', '2028-01-01'],
] as const;
export type HsEdition = (typeof HS_EDITIONS)[number][0];

/** The HS edition in force on a date (YYYY-MM-DD); the oldest listed before it came in. */
export function hsEditionOn(date: string): HsEdition {
  let edition: HsEdition = HS_EDITIONS[0][0];
  for (const [name, since] of HS_EDITIONS) if (date >= since) edition = name;
  return edition;
}

type Issues = z.core.$RefinementCtx<Certificate>;

/** Dates must tell a possible story: invoiced before issue, shipped before issue only if retroactive. */
function checkDates(co: Certificate, ctx: Issues): void {
  // Zod runs this even when a date failed its own format check: compare well-formed dates only.
  const isDate = (d: string | undefined): d is string => typeof d === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(d);
  if (!isDate(co.issuedAt)) return;
  const after = (path: (string | number)[], date: string | undefined, limit: string, what: string) => {
    if (isDate(date) && date > limit) ctx.addIssue({ code: 'custom', path, message: `${date} is after ${what} ${limit}` });
  };
  after(['invoice', 'date'], co.invoice?.date, co.issuedAt, 'the issue date');
  co.items.forEach((it, i) => {
    after(['items', i, 'invoice', 'date'], it.invoice?.date, co.issuedAt, 'the issue date');
  });
  if (co.exporterDeclaration && isDate(co.certification?.date)) {
    after(['exporterDeclaration', 'date'], co.exporterDeclaration.date, co.certification!.date, 'the certification date');
  }
  const departure = co.transport?.departureDate;
  if (isDate(departure) && departure < co.issuedAt && !co.flags?.issuedRetroactively) {
    ctx.addIssue({ code: 'custom', path: ['flags', 'issuedRetroactively'], message: `must be true: issued ${co.issuedAt}, after the goods left on ${departure}` });
  }
  if (co.exportCountry === co.importCountry) ctx.addIssue({ code: 'custom', path: ['importCountry'], message: 'is the export country' });
}

/** The optional totals must be the sums of the items (same unit or currency throughout). */
function checkTotals(co: Certificate, ctx: Issues): void {
  const totals = co.totals;
  if (!totals) return;
  if (totals.packages !== undefined) {
    const sum = co.items.reduce((n, it) => n + (it.packages?.count ?? 0), 0);
    if (sum !== totals.packages) ctx.addIssue({ code: 'custom', path: ['totals', 'packages'], message: `is ${totals.packages} but the items have ${sum} packages` });
  }
  const compare = (path: string[], total: { value: string; key: string } | undefined, parts: ({ value: string; key: string } | undefined)[]) => {
    if (!total) return;
    if (parts.some((p) => !p || p.key !== total.key)) {
      ctx.addIssue({ code: 'custom', path, message: `every item needs a ${path[1]} in ${total.key} to be totalled` });
      return;
    }
    const sum = parts.reduce((total, p) => add(total, exact(p!.value)), exact('0'));
    if (compareExact(exact(total.value), sum) !== 0) ctx.addIssue({ code: 'custom', path, message: `is ${total.value} but the items add up to ${format(sum)}` });
  };
  compare(
    ['totals', 'grossWeight'],
    totals.grossWeight && { value: totals.grossWeight.value, key: totals.grossWeight.unit },
    co.items.map((it) => it.grossWeight && { value: it.grossWeight.value, key: it.grossWeight.unit }),
  );
  compare(
    ['totals', 'value'],
    totals.value && { value: totals.value.amount, key: totals.value.currency },
    co.items.map((it) => it.value && { value: it.value.amount, key: it.value.currency }),
  );
}
