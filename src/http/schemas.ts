// Shapes shared by every route: problem details and common parameters.
import { z } from 'zod';
import { certificateSchema } from '../dataset/index.ts';

/**
 * The named schemas of the OpenAPI document (its components). A registry of its own, not zod's
 * global one: what else the process has loaded must not change the document.
 */
export const apiSchemas = z.registry<{ id: string }>();
apiSchemas.add(certificateSchema, { id: 'Certificate' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
    requestId: z.string().optional().describe("the request's X-Request-Id (the caller's when well-formed, else a UUID made for it); quote it to an operator"),
  })
  .describe('RFC 9457 problem details (application/problem+json)')
  .register(apiSchemas, { id: 'Problem' });

/** Response map entries for the error statuses a route can answer with. */
export function problems(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]));
}
