// The error catalogue: every error the gateway answers a caller with, by a stable code. Services
// throw `EcoError`s and know nothing of HTTP; http/ turns them into problem+json (RFC 9457) in one
// place, with `type` = PROBLEM_BASE + the entry's slug. Codes and slugs never change once
// published: callers branch on them. Each one is listed in docs/rest-api.md ("Problem types").

export const PROBLEM_BASE = 'https://eco-gateway.dev/problems/';
/** Where the catalogue is documented, for the `doc` of each entry. */
const DOC = 'docs/rest-api.md#problem-types';

type Entry = { status: number; slug: string; title: string; doc: string };
const entry = (status: number, slug: string, title: string): Entry => ({ status, slug, title, doc: DOC });

export const errorCatalogue = {
  // Requests the gateway refuses to read or to run.
  VALIDATION: entry(400, 'validation', 'Invalid request'),
  BAD_REQUEST: entry(400, 'bad-request', 'Bad request'),
  UNAUTHENTICATED: entry(401, 'unauthenticated', 'Unauthenticated'),
  FORBIDDEN: entry(403, 'forbidden', 'Forbidden'),
  NOT_FOUND: entry(404, 'not-found', 'Not found'),
  REQUEST_TIMEOUT: entry(408, 'request-timeout', 'Request timeout'),
  RATE_LIMITED: entry(429, 'rate-limited', 'Too many requests'),
  HEADERS_TOO_LARGE: entry(431, 'headers-too-large', 'Request headers too large'),
  // What fastify refuses before a route runs. The slugs are the ones these have always had
  // (derived once from fastify's codes); they are fixed here, so a fastify upgrade cannot move them.
  BODY_TOO_LARGE: entry(413, 'fst-err-ctp-body-too-large', 'Content too large'),
  UNSUPPORTED_MEDIA_TYPE: entry(415, 'fst-err-ctp-invalid-media-type', 'Unsupported media type'),
  INVALID_CONTENT_LENGTH: entry(400, 'fst-err-ctp-invalid-content-length', 'Bad request'),
  EMPTY_JSON_BODY: entry(400, 'fst-err-ctp-empty-json-body', 'Bad request'),
  INVALID_JSON_BODY: entry(400, 'fst-err-ctp-invalid-json-body', 'Bad request'),
  BAD_URL: entry(400, 'fst-err-bad-url', 'Bad request'),
  INVALID_URL: entry(400, 'fst-err-invalid-url', 'Bad request'),
  URL_PARAMETER_TOO_LONG: entry(414, 'fst-err-max-param-length', 'URI too long'),
  // Business outcomes.
  CONFLICT: entry(409, 'conflict', 'Conflict'),
  CLAIM_REJECTED: entry(409, 'claim-rejected', 'Claim rejected'),
  UNPROCESSABLE: entry(422, 'unprocessable', 'Request cannot be processed'),
  IDEMPOTENCY_KEY_REUSED: entry(422, 'idempotency-key-reused', 'Idempotency-Key reused'),
  PEER_KEYS: entry(422, 'peer-keys', 'Peer keys unusable'),
  // The gateway itself.
  INTERNAL: entry(500, 'internal', 'Internal error'),
  UNAVAILABLE: entry(503, 'unavailable', 'Service unavailable'),
  NOT_READY: entry(503, 'not-ready', 'Not ready'),
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof errorCatalogue;

/** A field the error is about: an RFC 6901 pointer into the input, and what is wrong there. */
export type FieldError = { pointer: string; detail: string };

/** An error from the catalogue; anything else that reaches a caller is INTERNAL. */
export class EcoError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly errors?: FieldError[],
    /** Members added to the answer (RFC 9457 extensions); the route's response schema names them. */
    readonly extensions?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(detail ?? errorCatalogue[code].title, options);
    this.name = `EcoError ${code}`;
  }
}

export const notFound = (detail: string) => new EcoError('NOT_FOUND', detail);
export const invalid = (detail: string, errors: FieldError[]) => new EcoError('VALIDATION', detail, errors);
export const unprocessable = (detail: string, errors?: FieldError[]) => new EcoError('UNPROCESSABLE', detail, errors);
export const conflict = (detail: string) => new EcoError('CONFLICT', detail);
