import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actors } from '../audit/index.ts';
import { notFound } from '../errors.ts';
import { apiSchemas, exampleFile, problems } from '../http/index.ts';
import { type AgreementBook, agreementInputSchema, agreementCodeSchema as codeSchema, findingSeveritiesSchema } from './book.ts';

// A component, not inline: route schemas leave out zod metadata such as maxProperties.
apiSchemas.add(findingSeveritiesSchema, { id: 'FindingSeverities' });
const agreementSchema = agreementInputSchema.extend({ code: z.string() }).register(apiSchemas, { id: 'Agreement' });

/** The document's example: an agreement of examples/agreements.json, as the demo registers it. */
const agreementExample = exampleFile<{ agreements: Record<string, Record<string, unknown>> }>('agreements.json').agreements['KR-VN-FTA'];

export async function agreementRoutes(app: FastifyInstance, options: { agreements: AgreementBook }): Promise<void> {
  const { agreements } = options;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.put(
    '/admin/agreements/:code',
    {
      schema: {
        operationId: 'saveAgreement',
        summary: 'Create or update an agreement: parties, CO kinds, origin criteria, validity, retroactive issuance',
        tags: ['admin'],
        params: z.object({ code: codeSchema }),
        body: agreementInputSchema,
        response: { 200: agreementSchema, ...problems(400) },
        examples: { body: agreementExample, 200: { ...agreementInputSchema.parse(agreementExample), code: 'KR-VN-FTA' } },
      },
    },
    async (request) => agreements.upsert(request.params.code, request.body, actors.apiClient(request.client)),
  );

  api.get(
    '/admin/agreements',
    { schema: { operationId: 'listAgreements', summary: 'List agreements', tags: ['admin'], response: { 200: z.object({ agreements: z.array(agreementSchema) }) } } },
    async () => ({
      agreements: await agreements.list(),
    }),
  );

  api.get(
    '/admin/agreements/:code',
    { schema: { operationId: 'getAgreement', summary: 'One agreement', tags: ['admin'], params: z.object({ code: codeSchema }), response: { 200: agreementSchema, ...problems(400, 404) } } },
    async (request) => {
      const agreement = await agreements.find(request.params.code);
      if (!agreement) throw notFound(`no agreement ${request.params.code}`);
      return agreement;
    },
  );
}
