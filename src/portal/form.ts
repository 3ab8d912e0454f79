// The certificate form: its fields (named by their JSON pointer into the dataset, so that an error's
// pointer names its field), the form's flat values <-> a certificate, and errors -> fields.
import { type Certificate, certificateKinds, certificateSchema, toPointer } from '../dataset/index.ts';
import { EcoError, type FieldError } from '../errors.ts';
import { countryCode } from './codes.ts';
import { type Lang, readDecimal } from './messages.ts';

export type Kind = (typeof certificateKinds)[number];
export const kinds = certificateKinds;

export type FieldType = 'text' | 'textarea' | 'date' | 'int' | 'decimal' | 'country' | 'currency' | 'unit' | 'package' | 'locode' | 'agreement' | 'mode' | 'checkbox' | 'hs';

export type Field = {
  /** JSON pointer into the certificate; for items, relative to the item (`/hsCode`). */
  pointer: string;
  /** Catalogue key of its label. */
  label: string;
  type: FieldType;
  max: number;
  required?: boolean;
  /** Only on forms of these kinds. */
  kinds?: readonly Kind[];
};

/**
 * How much a code field (country, unit, …) takes: more than any code, so that a name typed there
 * ("Vietnam") is read as a name or refused at its field, never cut to a wrong code ("VI").
 */
const CODE_INPUT = 60;

const f = (pointer: string, label: string, type: FieldType, max: number, more: Partial<Field> = {}): Field => ({ pointer, label, type, max, ...more });
const partyFields = (who: string, required: boolean): Field[] => [
  f(`/${who}/name`, 'field.name', 'text', 256, { required }),
  f(`/${who}/id`, 'field.partyIdentifier', 'text', 35),
  f(`/${who}/address/line`, 'field.addressLine', 'text', 256),
  f(`/${who}/address/city`, 'field.city', 'text', 70),
  f(`/${who}/address/postcode`, 'field.postcode', 'text', 17),
  f(`/${who}/address/country`, 'field.country', 'country', CODE_INPUT),
];

/** The form's sections (fieldsets), each with its legend's key and fields, in order. */
export const sections: { legend: string; fields: Field[] }[] = [
  {
    legend: 'section.certificate',
    fields: [
      f('/number', 'field.number', 'text', 35, { required: true }),
      f('/agreement', 'field.agreement', 'agreement', 35, { kinds: ['preferential', 'origin-declaration'], required: true }),
      f('/issuedAt', 'field.issuedAt', 'date', 10, { required: true }),
      f('/issuer/name', 'field.issuerName', 'text', 256, { required: true }),
    ],
  },
  { legend: 'section.exporter', fields: partyFields('exporter', true) },
  { legend: 'section.producer', fields: partyFields('producer', false) },
  { legend: 'section.importer', fields: partyFields('importer', false) },
  {
    legend: 'section.route',
    fields: [
      f('/exportCountry', 'field.exportCountry', 'country', CODE_INPUT, { required: true }),
      f('/importCountry', 'field.importCountry', 'country', CODE_INPUT, { required: true }),
      f('/transport/mode', 'field.transportMode', 'mode', 1),
      f('/transport/means', 'field.transportMeans', 'text', 70),
      f('/transport/loadingPort', 'field.loadingPort', 'locode', CODE_INPUT),
      f('/transport/dischargePort', 'field.dischargePort', 'locode', CODE_INPUT),
      f('/transport/departureDate', 'field.departureDate', 'date', 10),
      f('/invoice/number', 'field.invoiceNumber', 'text', 35),
      f('/invoice/date', 'field.invoiceDate', 'date', 10),
    ],
  },
  {
    legend: 'section.flags',
    fields: [
      f('/flags/issuedRetroactively', 'field.issuedRetroactively', 'checkbox', 2),
      f('/flags/backToBack', 'field.backToBack', 'checkbox', 2),
      f('/flags/thirdPartyInvoicing', 'field.thirdPartyInvoicing', 'checkbox', 2),
      f('/flags/exhibition', 'field.exhibition', 'checkbox', 2),
      f('/flags/cumulation', 'field.cumulation', 'checkbox', 2),
      f('/remarks', 'field.remarks', 'textarea', 2000),
    ],
  },
  {
    legend: 'section.declaration',
    fields: [
      f('/exporterAuthorization', 'field.exporterAuthorization', 'text', 35, { kinds: ['origin-declaration'], required: true }),
      f('/exporterDeclaration/place', 'field.place', 'text', 70),
      f('/exporterDeclaration/date', 'field.date', 'date', 10),
      f('/exporterDeclaration/signatory/name', 'field.signatory', 'text', 70),
      f('/exporterDeclaration/signatory/title', 'field.signatoryTitle', 'text', 70),
    ],
  },
  {
    legend: 'section.certification',
    fields: [
      f('/certification/place', 'field.place', 'text', 70, { kinds: ['preferential', 'non-preferential'], required: true }),
      f('/certification/date', 'field.date', 'date', 10, { kinds: ['preferential', 'non-preferential'], required: true }),
      f('/certification/signatory/name', 'field.signatory', 'text', 70, { kinds: ['preferential', 'non-preferential'], required: true }),
      f('/certification/signatory/title', 'field.signatoryTitle', 'text', 70, { kinds: ['preferential', 'non-preferential'] }),
    ],
  },
];

/** The fields of one goods item, relative to `/items/{index}`. */
export const itemFields: Field[] = [
  f('/description', 'field.description', 'textarea', 512, { required: true }),
  f('/hsCode', 'field.hsCode', 'hs', 10, { required: true }),
  f('/originCountry', 'field.originCountry', 'country', CODE_INPUT, { required: true }),
  f('/originCriterion', 'field.originCriterion', 'text', 35, { kinds: ['preferential', 'origin-declaration'], required: true }),
  f('/quantity/value', 'field.quantity', 'decimal', 25, { required: true }),
  f('/quantity/unit', 'field.unit', 'unit', CODE_INPUT, { required: true }),
  f('/grossWeight/value', 'field.grossWeight', 'decimal', 25),
  f('/grossWeight/unit', 'field.weightUnit', 'unit', CODE_INPUT),
  f('/packages/count', 'field.packageCount', 'int', 9),
  f('/packages/kind', 'field.packageKind', 'package', CODE_INPUT),
  f('/packages/marks', 'field.marks', 'text', 512),
  f('/value/amount', 'field.value', 'decimal', 25),
  f('/value/currency', 'field.currency', 'currency', CODE_INPUT),
  f('/invoice/number', 'field.invoiceNumber', 'text', 35),
  f('/invoice/date', 'field.invoiceDate', 'date', 10),
];

/** At most this many goods items on a portal form (the dataset allows 999; a page of 99 is already long). */
export const MAX_ITEMS = 99;

export const forKind = (field: Field, kind: Kind) => !field.kinds || field.kinds.includes(kind);

/** The form's values: field pointer (items as /items/{i}/...) -> text; plus the item count and recipient. */
export type FormState = { kind: Kind; items: number; values: Record<string, string>; recipient: string };

const ITEM_POINTER = /^\/items\/(\d{1,2})(\/.+)$/;
const headerFields = new Map(sections.flatMap((s) => s.fields).map((field) => [field.pointer, field]));
const itemFieldMap = new Map(itemFields.map((field) => [field.pointer, field]));

/** The field a pointer names, if the form has one. */
export function fieldAt(pointer: string): Field | undefined {
  const item = ITEM_POINTER.exec(pointer);
  return item ? itemFieldMap.get(item[2]!) : headerFields.get(pointer);
}

/**
 * Reads a posted form into its state: only known fields, each bounded by its field's length (a
 * longer value is cut at the bound plus one, so the schema still says it is too long).
 */
export function readForm(body: Record<string, unknown>, kind: Kind): FormState {
  const items = Math.min(MAX_ITEMS, Math.max(1, Number.parseInt(String(body.items ?? '1'), 10) || 1));
  const values: Record<string, string> = {};
  for (const [name, raw] of Object.entries(body)) {
    if (typeof raw !== 'string' || !name.startsWith('/')) continue;
    const field = fieldAt(name);
    const item = ITEM_POINTER.exec(name);
    if (!field || (item && Number(item[1]) >= items)) continue;
    values[name] = raw.slice(0, field.max + 1);
  }
  const recipient = typeof body.recipient === 'string' ? body.recipient.slice(0, 20) : '';
  return { kind, items, values, recipient };
}

/** Removes goods item `index`, moving the later ones up. */
export function removeItem(state: FormState, index: number): FormState {
  if (state.items <= 1 || index < 0 || index >= state.items) return state;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(state.values)) {
    const item = ITEM_POINTER.exec(name);
    if (!item) values[name] = value;
    else if (Number(item[1]) < index) values[name] = value;
    else if (Number(item[1]) > index) values[`/items/${Number(item[1]) - 1}${item[2]}`] = value;
  }
  return { ...state, items: state.items - 1, values };
}

function setAt(target: Record<string, unknown>, pointer: string, value: unknown): void {
  const parts = pointer.slice(1).split('/');
  let node: Record<string, unknown> = target;
  parts.forEach((part, i) => {
    const key = /^\d+$/.test(part) ? Number(part) : part;
    if (i === parts.length - 1) {
      (node as Record<string | number, unknown>)[key] = value;
      return;
    }
    const next = (node as Record<string | number, unknown>)[key];
    if (next === undefined) {
      const created = /^\d+$/.test(parts[i + 1]!) ? [] : {};
      (node as Record<string | number, unknown>)[key] = created;
      node = created as Record<string, unknown>;
    } else node = next as Record<string, unknown>;
  });
}

/** A field's text as the dataset's value, read the way the officer's language writes it. */
const convert = (field: Field, text: string, lang: Lang): unknown => {
  if (field.type === 'checkbox') return true;
  if (field.type === 'int') return /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : text;
  if (field.type === 'decimal') return readDecimal(lang, text);
  if (field.type === 'country') return countryCode(text, lang);
  if (['currency', 'unit', 'package', 'locode'].includes(field.type)) return text.trim().toUpperCase();
  return text;
};

/**
 * The certificate the form describes, as the REST API would receive it: empty fields are left out,
 * item numbers are the rows' order, issuer and version are the gateway's to set.
 */
export function toCertificate(state: FormState, issuer: { partyId: string }, version: number, lang: Lang = 'en'): Record<string, unknown> {
  const co: Record<string, unknown> = { version, kind: state.kind, issuer: { partyId: issuer.partyId }, items: [] };
  for (let i = 0; i < state.items; i++) setAt(co, `/items/${i}/itemNumber`, i + 1);
  for (const [name, text] of Object.entries(state.values)) {
    const field = fieldAt(name)!;
    if (!forKind(field, state.kind) || text.trim() === '') continue;
    setAt(co, name, convert(field, text, lang));
  }
  return co;
}

/** The form state of a certificate (to replace it, or to start from one). */
export function fromCertificate(co: Certificate): FormState {
  const values: Record<string, string> = {};
  const walk = (value: unknown, pointer: string) => {
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, `${pointer}/${k}`);
    } else if (fieldAt(pointer)) values[pointer] = value === true ? 'on' : String(value);
  };
  walk(co, '');
  return { kind: co.kind, items: co.items.length, values, recipient: '' };
}

/** Field errors of the dataset schema, as pointers; "required" where a value is missing. */
export function schemaErrors(input: unknown): { certificate?: Certificate; errors: FieldError[] } {
  const parsed = certificateSchema.safeParse(input);
  if (parsed.success) return { certificate: parsed.data, errors: [] };
  return {
    errors: parsed.error.issues.map((issue) => ({
      pointer: toPointer(issue.path),
      detail: issue.code === 'invalid_type' && issue.message.includes('received undefined') ? 'required' : issue.message,
    })),
  };
}

/** The field errors of a refusal by a service (422 and the like), or undefined for other errors. */
export function serviceErrors(error: unknown): FieldError[] | undefined {
  if (!(error instanceof EcoError) || !['UNPROCESSABLE', 'VALIDATION', 'CONFLICT'].includes(error.code)) return undefined;
  return error.errors?.length ? error.errors : [{ pointer: '', detail: error.detail ?? error.message }];
}

/**
 * Where each error is shown: at the field its pointer names, else at the first field under it
 * (`/certification` -> its place), else at the nearest field above it; else with the form's
 * general errors. Returns field pointer -> messages, and the rest.
 */
export function placeErrors(errors: FieldError[], state: FormState): { byField: Map<string, string[]>; general: FieldError[] } {
  const names: string[] = ['/recipient'];
  for (const s of sections) for (const field of s.fields) if (forKind(field, state.kind)) names.push(field.pointer);
  for (let i = 0; i < state.items; i++) for (const field of itemFields) if (forKind(field, state.kind)) names.push(`/items/${i}${field.pointer}`);
  const byField = new Map<string, string[]>();
  const general: FieldError[] = [];
  for (const error of errors) {
    const p = error.pointer;
    const at = (p && names.find((n) => n === p)) || (p && names.find((n) => n.startsWith(`${p}/`))) || (p && names.filter((n) => p.startsWith(`${n}/`)).sort((a, b) => b.length - a.length)[0]);
    if (at) byField.set(at, [...(byField.get(at) ?? []), error.detail]);
    else general.push(error);
  }
  return { byField, general };
}

/** An HTML id for a field pointer: `/items/0/hsCode` -> `f-items-0-hsCode`. */
export const fieldId = (pointer: string) => `f${pointer.replace(/[^A-Za-z0-9]+/g, '-')}`;
