// Shapes shared by every route: problem details and common parameters.
import { z } from 'zod';
import { certificateSchema } from '../dataset/index.ts';

/**
 * The named schemas of the OpenAPI document (its components). A registry of its own, not zod's
 * global one: what else the process has loaded must not change the document.
 */
export const apiSchemas = z.registry<{ id: string }>();
// A route's own schemas are converted with this registry as their only metadata: without this,
// what .describe() and .meta() say of them (zod's global registry) would not reach the document.
// Not their ids: those name the AsyncAPI document's messages.
const ownMeta = apiSchemas.get.bind(apiSchemas);
apiSchemas.get = (schema) => {
  const own = ownMeta(schema);
  if (own) return own;
  const { id: _id, ...described } = z.globalRegistry.get(schema) ?? {};
  return Object.keys(described).length > 0 ? (described as never) : undefined;
};
apiSchemas.add(certificateSchema, { id: 'Certificate' });

export const problemSchema = z
  .object({
    type: z.string().describe('what went wrong, for good: https://eco-gateway.dev/problems/<slug> (README "Problem types"); branch on this'),
    title: z.string().describe('a short summary of the type, the same for every occurrence'),
    status: z.number().int().describe('the HTTP status of the answer'),
    detail: z.string().optional().describe('what went wrong with this request'),
    errors: z
      .array(z.object({ pointer: z.string().describe('RFC 6901 JSON pointer into the request: the body, or /query, /params'), detail: z.string() }))
      .optional()
      .describe('one entry per field at fault'),
    requestId: z.string().optional().describe("the request's X-Request-Id (the caller's when well-formed, else a UUID made for it); quote it to an operator"),
  })
  .describe('RFC 9457 problem details (application/problem+json)')
  .register(apiSchemas, { id: 'Problem' });

/** Response map entries for the error statuses a route can answer with. */
export function problems(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}
