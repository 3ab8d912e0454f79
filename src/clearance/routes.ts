import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { apiSchemas, problemSchema, problems } from '../http/index.ts';
import { claimSchema, findingCodes } from './findings.ts';
import { flaggedCertificates } from './risk.ts';
import type { ClearanceService } from './service.ts';

// A named schema, so that the OpenAPI document keeps the descriptions of the claim's fields.
apiSchemas.add(claimSchema, { id: 'Claim' });

const checkViewSchema = z
  .object({
    id: z.uuid(),
    declarationRef: z.string(),
    decision: z.enum(['accept', 'refer', 'reject']),
    findings: z.array(
      z.object({
        code: z.enum(Object.keys(findingCodes) as [keyof typeof findingCodes]),
        severity: z.enum(['reject', 'refer', 'info']),
        fields: z.array(z.string()).describe("JSON pointers into the claim; `/kind` points at the CO's kind, which the claim does not carry"),
        message: z.string(),
      }),
    ),
    certificate: z.object({ issuer: z.string(), number: z.string(), version: z.number().int(), status: z.string() }).nullable(),
    status: z.enum(['checked', 'confirmed']),
    createdAt: z.string(),
    confirmedAt: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'ClearanceCheck' });

const confirmConflictSchema = problemSchema
  .extend({ check: checkViewSchema.optional().describe('the check this answer is about: rejected (at its check or at the drawdown), or left unconfirmed when the drawdown could not be made') })
  .register(apiSchemas, { id: 'ClearanceConfirmProblem' });

export async function clearanceRoutes(app: FastifyInstance, options: { clearance: ClearanceService; db: Db }): Promise<void> {
  const { clearance, db } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ id: z.uuid() });

  api.post(
    '/clearance/checks',
    {
      config: { roles: ['customs'] },
      schema: {
        operationId: 'checkClaim',
        summary: "Check a declaration's claim against the CO it cites: decision (accept, refer, reject) and findings",
        description:
          'With `confirm: true` a claim not rejected is drawn down at once (see the confirm operation). A claim that loses the drawdown to another ' +
          'declaration is answered like any rejected one: 201 with the check, decided reject (QUANTITY_EXCEEDED saying what remains), status `checked`. ' +
          'A retry is safe: the same `Idempotency-Key`, or `confirm: true` for a declaration that already drew on the CO, answers 200 with the first check ' +
          '(a declaration draws once); a key reused for another claim is 422. Quantities in another unit of the same dimension are converted exactly to the ' +
          "CO item's unit (UNIT_CONVERTED); a unit that does not convert is UNIT_MISMATCH and is never drawn.",
        tags: ['clearance'],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
        body: claimSchema,
        response: { 200: checkViewSchema, 201: checkViewSchema, ...problems(400, 422), 409: confirmConflictSchema },
      },
    },
    async (request, reply) => {
      const { replayed, ...check } = await clearance.check(request.body, actors.apiClient(request.client), request.headers['idempotency-key']);
      return reply.code(replayed ? 200 : 201).send(check);
    },
  );

  api.get(
    '/clearance/risk',
    {
      config: { roles: ['customs'] },
      schema: {
        operationId: 'listRiskFlaggedCertificates',
        summary: 'Received COs with risk flags (cancelled after shipment, many replacements, fully used, retroactive, value outliers), newest first',
        tags: ['clearance'],
        response: {
          200: z.object({
            certificates: z.array(
              z.object({
                issuer: z.string(),
                number: z.string(),
                version: z.number().int(),
                status: z.string(),
                receivedAt: z.string(),
                flags: z.array(z.object({ code: z.string(), message: z.string() })),
              }),
            ),
          }),
        },
      },
    },
    async () => ({ certificates: await flaggedCertificates(db) }),
  );

  api.get(
    '/clearance/checks/:id',
    { config: { roles: ['customs'] }, schema: { operationId: 'getClearanceCheck', summary: 'One check', tags: ['clearance'], params, response: { 200: checkViewSchema, ...problems(400, 404) } } },
    async (request) => clearance.find(request.params.id),
  );

  api.post(
    '/clearance/checks/:id/confirm',
    {
      config: { roles: ['customs'] },
      schema: {
        operationId: 'confirmClearanceCheck',
        summary: 'The declaration used the CO: draw the quantities down (atomically) and tell the issuing party',
        description:
          'The claim is assessed again under a lock on the CO. When it is rejected now (another declaration drew the quantity down first: ' +
          'QUANTITY_EXCEEDED saying what remains; the CO was cancelled meanwhile) the check is stored as decided reject with these findings, ' +
          'and the answer is 409 with the check in `check`, as for a claim rejected at its check. 409 rather than 200, so that a refused ' +
          'drawdown is never taken for a done one. The check keeps status `checked`: only a drawdown makes it `confirmed`.',
        tags: ['clearance'],
        params,
        response: { 200: checkViewSchema, ...problems(400, 404), 409: confirmConflictSchema },
      },
    },
    async (request) => clearance.confirm(request.params.id, actors.apiClient(request.client)),
  );
}
