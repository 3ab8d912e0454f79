// What verifiers without a gateway read (trust lists, status, the /verify page), with no API key;
// what the issuer and operators see of the checks; where peers' trust lists are registered.
import { Eta } from 'eta';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { withinLimit } from '../auth/index.ts';
import { certificateNumberSchema, partyIdSchema } from '../dataset/index.ts';
import type { Db } from '../db/index.ts';
import { invalid, notFound } from '../errors.ts';
import { apiSchemas, problems, throttledAddress } from '../http/index.ts';
import { STATUS_HASH_CHARS } from '../seals/index.ts';
import type { OwnTrustList, PeerTrustLists } from './list.ts';
import { type CheckOrigin, checksOf, type StatusService, unusualChecks } from './status.ts';

export type TrustRouteDeps = {
  partyId: string;
  db: Db;
  trustList: OwnTrustList;
  peerTrustLists: PeerTrustLists;
  status: StatusService;
  /** The /verify page (its script bundled once per process), with our trust keys to pin. */
  verifyPage: () => Promise<string>;
  /** Status checks answered per client address per minute. */
  statusChecksPerMinute: number;
  /** A header a trusted proxy sets to the client's country (e.g. CF-IPCountry); none: the address is recorded. */
  countryHeader?: string;
};

const thumbprintSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)');
const peerTrustListSchema = z
  .object({
    partyId: z.string(),
    url: z.string(),
    pins: z.array(z.string()),
    issuedAt: z.string().nullable(),
    nextUpdate: z.string().nullable(),
    fetchedAt: z.string().nullable(),
    lastError: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'PeerTrustList' });

// Trust lists change at most every few hours; a /verify page saved to disk reads them from no origin of its own (anyOrigin).
const PUBLIC_READ = { 'cache-control': 'public, max-age=300' };

const statusPage = new Eta({ autoEscape: true });
const STATUS_TEMPLATE = `<!doctype html>
<html lang="<%= it.lang %>"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.t.title %></title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
.valid{color:#0a6b2d}.cancelled,.replaced,.unknown{color:#a4161a}dt{font-weight:600}dd{margin:0 0 .5rem}</style></head>
<body><main><h1><%= it.t.title %></h1>
<p class="<%= it.answer.status %>"><strong><%= it.t[it.answer.status] %></strong></p>
<% if (it.answer.status !== 'unknown') { %><dl>
<dt><%= it.t.number %></dt><dd><%= it.answer.n %></dd><dt>Version</dt><dd><%= it.answer.v %><% if (it.answer.replacedBy) { %> (<%= it.t.replacedBy %> <%= it.answer.replacedBy %>)<% } %></dd>
<dt><%= it.t.issuer %></dt><dd><%= it.answer.i %></dd><dt><%= it.t.since %></dt><dd><%= it.answer.at %></dd></dl><% } %>
<p><%= it.t.checkedAt %> <%= it.answer.checkedAt %>. <%= it.t.compare %></p>
<p><a href="./verify"><%= it.t.verify %></a></p></main></body></html>`;
const STATUS_TEXT = {
  en: {
    title: 'Certificate of origin status',
    valid: 'Valid',
    replaced: 'Replaced by a newer version',
    cancelled: 'Cancelled',
    unknown: 'Unknown: no certificate issued here matches this seal',
    number: 'Number',
    issuer: 'Issuer',
    since: 'Since',
    replacedBy: 'replaced by version',
    checkedAt: 'Checked at',
    compare: 'Compare these details with the paper: the status says nothing of a copy whose seal was not verified.',
    verify: 'Verify a seal',
  },
  fr: {
    title: 'Statut du certificat d’origine',
    valid: 'Valide',
    replaced: 'Remplacé par une version plus récente',
    cancelled: 'Annulé',
    unknown: 'Inconnu : aucun certificat délivré ici ne correspond à ce sceau',
    number: 'Numéro',
    issuer: 'Émetteur',
    since: 'Depuis',
    replacedBy: 'remplacé par la version',
    checkedAt: 'Vérifié le',
    compare: 'Comparez ces données avec le papier : le statut ne dit rien d’une copie dont le sceau n’a pas été vérifié.',
    verify: 'Vérifier un sceau',
  },
};

const prefersFrench = (request: FastifyRequest) => /^fr\b/i.test(String(request.headers['accept-language'] ?? ''));

/** Whether Accept ranks `type` above `other` (media types in any case, q-values read; a tie goes to `other`). */
function prefers(request: FastifyRequest, type: string, other: string): boolean {
  const ranks = new Map<string, number>();
  for (const part of String(request.headers.accept ?? '')
    .toLowerCase()
    .split(',')
    .slice(0, 20)) {
    const [name = '', ...params] = part.split(';').map((p) => p.trim());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    ranks.set(name, Number.isFinite(q) ? q : 0);
  }
  return (ranks.get(type) ?? 0) > (ranks.get(other) ?? 0);
}

/** Public answers may be read from any page, errors included (a verifier should see why it failed). */
const anyOrigin = async (_request: FastifyRequest, reply: FastifyReply) => {
  reply.header('access-control-allow-origin', '*');
};

export async function trustRoutes(app: FastifyInstance, deps: TrustRouteDeps): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>();
  // Counted per address, an IPv6 one by its /64 (one host may hold all of it).
  const statusLimit = app.createRateLimit({ max: deps.statusChecksPerMinute, timeWindow: 60_000, keyGenerator: (request) => throttledAddress(request.ip) });

  api.get(
    '/.well-known/eco-trust.jws',
    {
      config: { roles: 'public' },
      onRequest: anyOrigin,
      schema: {
        security: [],
        operationId: 'getTrustList',
        summary: 'Our trust list (PROFILE 1.2): keys with their validity and the certificates no longer valid, signed with our trust key',
        description: 'A compact JWS (`typ: eco-trust+jws`). Pin our trust key by its thumbprint out of band; `nextUpdate` is at most 24 h after `issuedAt`.',
        tags: ['verification'],
        produces: ['application/jose'],
        response: { 200: z.string().describe('compact JWS'), ...problems(503) },
      },
    },
    async (_request, reply) =>
      reply
        .headers(PUBLIC_READ)
        .type('application/jose')
        .send(await deps.trustList.current()),
  );

  api.get(
    '/.well-known/eco-trust/:file',
    {
      config: { roles: 'public' },
      onRequest: anyOrigin,
      schema: {
        security: [],
        operationId: 'getPartyTrustList',
        summary: "A party's trust list by party id (`KR-KCS.jws`): ours, or a registered peer's as it signed it",
        tags: ['verification'],
        params: z.object({
          file: z
            .string()
            .max(40)
            .regex(/^[A-Z]{2}-[A-Z0-9]{2,16}\.jws$/, 'must be a party id followed by .jws'),
        }),
        produces: ['application/jose'],
        response: { 200: z.string().describe('compact JWS'), ...problems(400, 404, 503) },
      },
    },
    async (request, reply) => {
      const partyId = request.params.file.slice(0, -'.jws'.length);
      const jws = partyId === deps.partyId ? await deps.trustList.current() : await deps.peerTrustLists.served(partyId);
      if (!jws) throw notFound(`no trust list of ${partyId} is held here`);
      return reply.headers(PUBLIC_READ).type('application/jose').send(jws);
    },
  );

  api.get(
    '/status',
    {
      config: { roles: 'public' },
      onRequest: anyOrigin,
      schema: {
        security: [],
        operationId: 'getSealStatus',
        summary: "The status of a sealed certificate (the seal's `u`): a signed answer, or a page for a person",
        description:
          '`Accept: application/jose` (the default) answers a compact JWS (`typ: eco-status+jws`) signed with our current key; `Accept: text/html` a page. ' +
          "A certificate is found only by the first 22 characters of its seal's `h`: anything else answers `unknown`, so that numbers cannot be enumerated. " +
          'Limited per client address (429 with Retry-After past it); every check is recorded for the issuer.',
        tags: ['verification'],
        querystring: z.object({
          h: z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${STATUS_HASH_CHARS}}$`), `must be the first ${STATUS_HASH_CHARS} characters of the seal's h`),
          nonce: z
            .string()
            .regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be 16-64 base64url characters')
            .optional()
            .describe('required with Accept: application/jose; echoed in the answer'),
        }),
        produces: ['application/jose', 'text/html'],
        response: { 200: z.string().describe('compact JWS, or HTML'), ...problems(400, 429, 503) },
      },
      preHandler: async (request, reply) => withinLimit(statusLimit, request, reply, 'of status checks from one address'),
    },
    async (request, reply) => {
      const html = prefers(request, 'text/html', 'application/jose');
      const nonce = request.query.nonce;
      if (!html && !nonce) throw invalid('a signed answer needs a nonce', [{ pointer: '/nonce', detail: 'is required with Accept: application/jose' }]);
      const from = originOf(request, deps.countryHeader);
      const { answer, jws } = await deps.status.check(request.query.h, nonce ?? '', from, !html);
      reply.header('cache-control', 'no-store');
      if (jws) return reply.type('application/jose').send(jws);
      const lang = prefersFrench(request) ? 'fr' : 'en';
      return reply.type('text/html; charset=utf-8').send(statusPage.renderString(STATUS_TEMPLATE, { lang, t: STATUS_TEXT[lang], answer }));
    },
  );

  api.get(
    '/verify',
    {
      config: { roles: 'public' },
      schema: {
        security: [],
        operationId: 'getVerifyPage',
        summary: 'The seal verifier: one self-contained page (save it, open it from a file, load a trust list from a file)',
        tags: ['verification'],
        produces: ['text/html'],
        response: { 200: z.string() },
      },
    },
    async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(await deps.verifyPage()),
  );

  const numberParams = z.object({ number: certificateNumberSchema });
  api.get(
    '/certificates/:number/checks',
    {
      config: { roles: ['issuer'] },
      schema: {
        operationId: 'listStatusChecks',
        summary: 'Who checked a certificate issued here through its seal: per version, day and origin (a country when it can be told, else the address)',
        tags: ['verification'],
        params: numberParams,
        response: {
          200: z
            .object({
              total: z.number().int(),
              lastAt: z.string().nullable(),
              checks: z.array(
                z.object({
                  version: z.number().int(),
                  day: z.string(),
                  origin: z.string(),
                  country: z.string().nullable(),
                  answered: z.enum(['valid', 'replaced', 'cancelled']),
                  checks: z.number().int(),
                  firstAt: z.string(),
                  lastAt: z.string(),
                }),
              ),
            })
            .register(apiSchemas, { id: 'StatusChecks' }),
          ...problems(400, 404),
        },
      },
    },
    async (request) => {
      const { rowCount } = await deps.db.query('SELECT 1 FROM certificates WHERE number = $1 LIMIT 1', [request.params.number]);
      if (!rowCount) throw notFound(`no certificate ${request.params.number} has been issued here`);
      return checksOf(deps.db, request.params.number);
    },
  );

  api.get(
    '/admin/status-checks',
    {
      schema: {
        operationId: 'unusualStatusChecks',
        summary: 'Unusual status checks: certificates checked after they were cancelled or replaced, and origins asking for seals nobody issued',
        tags: ['admin'],
        querystring: z.object({ days: z.coerce.number().int().min(1).max(366).default(7) }),
        response: {
          200: z.object({
            finalStatusChecks: z.array(z.object({ number: z.string(), version: z.number().int(), answered: z.string(), checks: z.number().int(), origins: z.number().int(), lastAt: z.string() })),
            unknownByOrigin: z.array(z.object({ origin: z.string(), checks: z.number().int(), lastAt: z.string() })),
          }),
        },
      },
    },
    async (request) => unusualChecks(deps.db, request.query.days),
  );

  const partyParams = z.object({ partyId: partyIdSchema });
  api.put(
    '/admin/peers/:partyId/trust-list',
    {
      schema: {
        operationId: 'registerPeerTrustList',
        summary: "Where a peer's trust list is read and which of its trust keys to pin; read at once, then every TRUST_LIST_REFRESH_SECONDS",
        description: "Served again as received at /.well-known/eco-trust/{partyId}.jws. After each list accepted, the pins are that list's trustKeys.",
        tags: ['admin'],
        params: partyParams,
        body: z.object({ url: z.url({ protocol: /^https?$/ }).max(500), pins: z.array(thumbprintSchema).min(1).max(10) }),
        response: { 200: peerTrustListSchema, ...problems(400, 404, 422) },
      },
    },
    async (request) => deps.peerTrustLists.register(request.params.partyId, request.body, actors.apiClient(request.client)),
  );

  api.get(
    '/admin/peers/:partyId/trust-list',
    { schema: { operationId: 'getPeerTrustList', summary: "A peer's trust list as held here", tags: ['admin'], params: partyParams, response: { 200: peerTrustListSchema, ...problems(400, 404) } } },
    async (request) => {
      const view = await deps.peerTrustLists.view(request.params.partyId);
      if (!view) throw notFound(`no trust list is registered for peer ${request.params.partyId}`);
      return view;
    },
  );

  api.post(
    '/admin/peers/:partyId/trust-list/refresh',
    {
      schema: {
        operationId: 'refreshPeerTrustList',
        summary: "Read a peer's trust list now",
        tags: ['admin'],
        params: partyParams,
        response: { 200: peerTrustListSchema, ...problems(400, 404, 422) },
      },
    },
    async (request) => deps.peerTrustLists.refresh(request.params.partyId),
  );
}

/** Where a check came from: the country a trusted proxy names, else the client address. */
function originOf(request: FastifyRequest, countryHeader: string | undefined): CheckOrigin {
  const told = countryHeader ? String(request.headers[countryHeader.toLowerCase()] ?? '').toUpperCase() : '';
  // XX and T1 are what proxies say when they cannot tell (unknown, Tor).
  const country = /^[A-Z]{2}$/.test(told) && told !== 'XX' && told !== 'T1' ? told : null;
  return { origin: country ?? request.ip.slice(0, 64), country };
}
