// The OpenAPI document beyond what each route's zod schemas say: the answers every route can give
// through the app's own hooks (authentication, rate limits, body parsing, timeouts), problem+json
// for every error, media types and examples. Routes declare what their handlers answer; this adds
// the rest, so that a client generator sees every status a caller can get.
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { FastifyDynamicSwaggerOptions, SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { EcoError, type ErrorCode, errorCatalogue } from '../errors.ts';
import { toProblem } from './problem.ts';
import { apiSchemas } from './schemas.ts';

declare module 'fastify' {
  interface FastifySchema {
    /** Examples for the document (fastify ignores them): of the request body, and of answers by status. */
    examples?: { body?: unknown } & { [status: number]: unknown };
  }
}

/** An example document of examples/ (the same files the demo and tests use), as it is on disk. */
export function exampleFile<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8')) as T;
}

/** Routes the rate limits never count (app.ts skips them): probes and key discovery. */
export const UNLIMITED_ROUTES = new Set(['/health', '/ready', '/.well-known/jwks.json']);

const PROBLEM_JSON = 'application/problem+json';
const BODY_EXAMPLE = 'x-body-example';
const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** What a body in a media type other than JSON is: always text. */
const textBodies: Record<string, string> = {
  'application/jose': 'a compact JWS (RFC 7515): the bytes as signed',
  'text/plain': 'text',
  'text/html': 'an HTML page',
};

/** An example answer per problem type of a status: the catalogue is the list of what a caller can get. */
function problemExamples(status: number): Record<string, { summary: string; value: unknown }> {
  const codes = (Object.keys(errorCatalogue) as ErrorCode[]).filter((code) => errorCatalogue[code].status === status);
  return Object.fromEntries(
    codes.map((code) => {
      const { body } = toProblem(new EcoError(code), '3f2c1a9e-5b7d-4c1e-9a8b-2d6f0e4c7b15');
      return [errorCatalogue[code].slug, { summary: `${errorCatalogue[code].title} (${code})`, value: body }];
    }),
  );
}

type JsonSchema = Record<string, unknown>;
type Roles = readonly string[] | 'public' | undefined;

/** The statuses the app's hooks can answer a route with, whatever its handler does. */
function hookStatuses(url: string, roles: Roles, schema: JsonSchema): number[] {
  const statuses = [408];
  if (schema.body || schema.querystring || schema.params || schema.headers) statuses.push(400);
  if (schema.body) statuses.push(413, 415);
  // The router refuses a path parameter over fastify's maxParamLength (100) before any hook.
  if (schema.params) statuses.push(414);
  // The API key is looked up in Postgres: an unreachable database is a 503 before the route runs.
  if (roles !== 'public') statuses.push(401, 403, 503);
  if (!UNLIMITED_ROUTES.has(url)) statuses.push(429);
  return statuses;
}

/**
 * Examples recorded from real gateways by `npm run record-api-examples` (examples/api-examples.json):
 * a request body and a success answer for every operation; a route's own examples come first.
 */
const recorded = exampleFile<Record<string, { request?: unknown; status: number; response?: unknown }>>('api-examples.json');
function recordedExamples(operationId: string): Record<string, unknown> {
  const call = recorded[operationId];
  if (!call) return {};
  return { ...(call.request === undefined ? {} : { body: call.request }), ...(call.response === undefined ? {} : { [call.status]: call.response }) };
}

/** The Retry-After header of 429 (the rate limits) and 503 answers (the error handler). */
const retryAfter = { 'Retry-After': { description: 'seconds to wait before trying again', type: 'integer', minimum: 0, maximum: 3600 } };

const zodTransform = createJsonSchemaTransform({ schemaRegistry: apiSchemas });
const zodTransformObject = createJsonSchemaTransformObject({ schemaRegistry: apiSchemas });

/** One route's operation: its zod schemas as JSON Schema, then its answers in their media types. */
const transform: SwaggerTransform = (input) => {
  const { schema, url } = zodTransform(input) as { schema: JsonSchema; url: string };
  if (!schema || schema.hide) return { schema, url };
  const roles = (input.route.config as { roles?: Roles } | undefined)?.roles ?? ['admin'];
  const examples = { ...recordedExamples(schema.operationId as string), ...((schema.examples ?? {}) as Record<string, unknown>) };
  const produces = (schema.produces as string[] | undefined) ?? ['application/json'];
  const response: Record<string, JsonSchema> = {};
  const declared = (schema.response ?? {}) as Record<string, JsonSchema>;
  const statuses = [...new Set([...Object.keys(declared).map(Number), ...hookStatuses(url, roles, schema)])].sort((a, b) => a - b);
  for (const status of statuses) {
    const described = declared[status];
    if (status >= 400) {
      // Shared answers (components/responses) are made of these in transformObject.
      const example = examples[status] === undefined ? {} : { example: examples[status] };
      const headers = status === 429 || status === 503 ? { headers: retryAfter } : {};
      response[status] = { description: STATUS_CODES[status], ...headers, content: { [PROBLEM_JSON]: { schema: described ?? PROBLEM_REF, ...example } } };
    } else if (described?.type === 'null') {
      response[status] = { ...described, description: STATUS_CODES[status] };
    } else {
      const content = Object.fromEntries(
        produces.map((media) => {
          const isJson = media.endsWith('json');
          const body = isJson || described?.type === 'string' ? described : { type: 'string', description: textBodies[media] };
          // A JSON example for JSON, a text one (a JWS, metrics, a page) for the others.
          const example = examples[status];
          const fits = example !== undefined && isJson === (typeof example !== 'string');
          return [media, { schema: body, ...(fits ? { example } : {}) }];
        }),
      );
      response[status] = { description: STATUS_CODES[status], content };
    }
  }
  const access = roles === 'public' ? 'Public: no API key needed.' : `Needs an API key with the role ${roles.join(' or ')}.`;
  // Carried to transformObject, which puts it in the request body (@fastify/swagger copies x- keys to the operation).
  const bodyExample = examples.body === undefined ? {} : { [BODY_EXAMPLE]: examples.body };
  const { examples: _examples, produces: _produces, ...rest } = schema;
  return { schema: { ...rest, ...bodyExample, response, description: [schema.description, access].filter(Boolean).join('\n\n') }, url };
};

/**
 * The whole document: components without the `$id`s zod gives them (fragment ids that linters
 * take for documents of their own), without those nothing refers to, and each under its plain
 * name when only its input or only its output form is used.
 */
const transformObject: SwaggerTransformObject = (input) => {
  const document = zodTransformObject(input) as { components: { schemas: Record<string, JsonSchema>; responses?: Record<string, unknown> }; paths: Record<string, Record<string, Operation>> };
  shareProblemAnswers(document);
  const schemas = document.components.schemas;
  for (const schema of Object.values(schemas)) {
    delete schema.$id;
    delete schema.$schema;
  }
  // Drop what nothing refers to, until nothing more goes.
  for (;;) {
    const text = JSON.stringify(document);
    const unused = Object.keys(schemas).filter((name) => !text.includes(`"#/components/schemas/${name}"`));
    if (unused.length === 0) break;
    for (const name of unused) delete schemas[name];
  }
  // A plain name for the form in use (CertificateInput becomes Certificate when no output form is left).
  const names = Object.keys(schemas).sort();
  const plain = (name: string) => (name.endsWith('Input') && !(name.slice(0, -5) in schemas) ? name.slice(0, -5) : name);
  let text = JSON.stringify({ ...document, components: { ...document.components, schemas: {} } });
  for (const name of names) text = text.replaceAll(`"#/components/schemas/${name}"`, `"#/components/schemas/${plain(name)}"`);
  const renamed = JSON.parse(text) as typeof document;
  renamed.components.schemas = Object.fromEntries(
    names.map((name) => [plain(name), JSON.parse(JSON.stringify(schemas[name]).replaceAll(/"#\/components\/schemas\/(\w+)"/g, (_, ref: string) => `"#/components/schemas/${plain(ref)}"`))]),
  );
  return renamed;
};

type Answer = { description: string; headers?: unknown; content: Record<string, { schema: JsonSchema; example?: unknown; examples?: unknown }> };
type Operation = { responses: Record<string, Answer | { $ref: string }>; requestBody?: Answer; [BODY_EXAMPLE]?: unknown };

/**
 * Puts the request body's example in place. Error answers with the plain Problem schema become
 * shared ones (components/responses, one per status, with an example per problem type of that
 * status); the others get their examples in place.
 */
function shareProblemAnswers(document: { components: { responses?: Record<string, unknown> }; paths: Record<string, Record<string, Operation>> }): void {
  const shared: Record<number, unknown> = {};
  const name = (status: number) => STATUS_CODES[status]!.replaceAll(/[^A-Za-z]/g, '');
  for (const operation of Object.values(document.paths).flatMap((methods) => Object.values(methods))) {
    if (BODY_EXAMPLE in operation) {
      operation.requestBody!.content['application/json']!.example = operation[BODY_EXAMPLE];
      delete operation[BODY_EXAMPLE];
    }
    for (const [key, answer] of Object.entries(operation.responses)) {
      const status = Number(key);
      if (status < 400 || !('content' in answer)) continue;
      const media = answer.content[PROBLEM_JSON]!;
      if (!('example' in media)) media.examples = problemExamples(status);
      if (media.schema.$ref !== PROBLEM_REF.$ref) continue;
      shared[status] = answer;
      operation.responses[key] = { $ref: `#/components/responses/${name(status)}` };
    }
  }
  document.components.responses = Object.fromEntries(
    Object.entries(shared)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([status, answer]) => [name(Number(status)), answer]),
  );
}

const { version, license } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; license: string };

export const documentOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'e-CO gateway',
      version,
      description:
        'Exchange of electronic Certificates of Origin between two customs/issuing authorities (WCO Interconnectivity Framework, Push model). ' +
        'Gateway-to-gateway traffic goes over AMQP as the exchange profile fixes it (docs/wire.md); this is the REST API for back-offices, customs systems and operators. ' +
        'Every error is an RFC 9457 problem (application/problem+json) whose `type` names it for good; quote its `requestId` to an operator.',
      license: { name: license, identifier: license },
    },
    // Relative: the document describes the gateway that serves it, wherever it runs.
    servers: [{ url: '/', description: 'the gateway serving this document' }],
    tags: [
      { name: 'certificates', description: 'issue and look up certificates of origin' },
      { name: 'clearance', description: 'import clearance: declaration checks and drawdown' },
      { name: 'verifications', description: 'verification requests between importing and issuing parties' },
      { name: 'messages', description: 'delivery status and receipts of what we sent' },
      { name: 'admin', description: 'operators: peers, keys, messages, dead letters, audit, metrics, console' },
      { name: 'keys', description: 'public keys' },
      { name: 'health', description: 'liveness and readiness probes' },
    ],
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key (eco_…) created with the CLI or POST /admin/api-keys' } } },
    security: [{ apiKey: [] }],
  },
  transform,
  transformObject,
};
