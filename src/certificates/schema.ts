// The e-CO dataset exactly as PROFILE.md fixes it ("The certificate"), shaped after the WCO Data
// Model's CO Derived Information Package. One schema serves REST input and inbound messages.
import { z } from 'zod';
import { partyIdSchema } from '../exchange/party.ts';

const country = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code');
const date = z.iso.date('must be a date YYYY-MM-DD');
const decimal = z.string().regex(/^\d{1,18}(\.\d{1,6})?$/, 'must be a non-negative decimal string such as "1200.50"');
const unitCode = z.string().regex(/^[A-Z0-9]{2,3}$/, 'must be a UN/ECE Rec. 20 unit code such as KGM');
const text = (max: number) => z.string().trim().min(1).max(max);

export const certificateNumberSchema = z
  .string()
  .regex(/^[A-Za-z0-9/.-]{1,35}$/, 'must be 1-35 characters of A-Z a-z 0-9 / - .');

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
  itemNumber: z.number().int().min(1).max(9999),
  description: text(512),
  hsCode: z.string().regex(/^\d{6,10}$/, 'must be an HS code of 6 to 10 digits'),
  originCountry: country,
  originCriterion: text(35).optional(),
  quantity: z.object({ value: decimal, unit: unitCode }),
  grossWeight: z.object({ value: decimal, unit: unitCode }).optional(),
  packages: z
    .object({
      count: z.number().int().min(0),
      kind: z.string().regex(/^[A-Z0-9]{2}$/, 'must be a UN/ECE Rec. 21 package code such as CT'),
      marks: text(512).optional(),
    })
    .optional(),
  value: z.object({ amount: decimal, currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code') }).optional(),
  invoice: invoice.optional(),
});

export const certificateSchema = z
  .object({
    number: certificateNumberSchema,
    version: z.number().int().min(1),
    kind: z.enum(certificateKinds),
    agreement: text(35).optional(),
    issuedAt: date,
    issuer: z.object({ partyId: partyIdSchema, name: text(256) }),
    exporter: party,
    producer: party.optional(),
    importer: party.optional(),
    exportCountry: country,
    importCountry: country,
    transport: z
      .object({
        mode: z.string().regex(/^[0-9]$/, 'must be a UN/ECE Rec. 19 transport mode code (0-9)').optional(),
        means: text(70).optional(),
        loadingPort: z.string().regex(/^[A-Z]{2}[A-Z2-9]{3}$/, 'must be a UN/LOCODE such as KRPUS').optional(),
        dischargePort: z.string().regex(/^[A-Z]{2}[A-Z2-9]{3}$/, 'must be a UN/LOCODE such as VNSGN').optional(),
        departureDate: date.optional(),
      })
      .optional(),
    invoice: invoice.optional(),
    items: z.array(item).min(1).max(999),
    remarks: z.string().max(2000).optional(),
    flags: z
      .object({
        issuedRetroactively: z.boolean().optional(),
        backToBack: z.boolean().optional(),
        thirdPartyInvoicing: z.boolean().optional(),
        exhibition: z.boolean().optional(),
        cumulation: z.boolean().optional(),
      })
      .optional(),
    exporterAuthorization: text(35).optional(),
    exporterDeclaration: attestation.optional(),
    certification: attestation.optional(),
    replaces: z.object({ number: certificateNumberSchema, version: z.number().int().min(1) }).optional(),
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
  })
  .meta({ id: 'Certificate', description: 'An e-CO dataset (PROFILE.md "The certificate", WCO Data Model CO Derived Information Package)' });

export type Certificate = z.infer<typeof certificateSchema>;
