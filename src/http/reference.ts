// The OpenAPI document and its rendered reference, served by the gateway itself: public (they say
// nothing a caller's key would unlock), and not in the document they serve.
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * The reference page's policy: Swagger UI's files come from here (@fastify/swagger-ui serves them
 * from its package), and the page talks to this gateway only; nothing inline may run.
 */
export const referencePolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export async function referenceRoutes(app: FastifyInstance): Promise<void> {
  // Every route of this plugin, Swagger UI's included, is public.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, roles: 'public' };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(app.swagger()));
  app.get('/openapi.yaml', { schema: { hide: true } }, async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(app.swagger({ yaml: true })));
  await app.register(swaggerUi, {
    routePrefix: '/reference',
    staticCSP: referencePolicy,
    // validatorUrl is left unset: null, so the page sends the document to no validator service.
    // BaseLayout: the standalone layout's top bar draws the Swagger logo with an inline <style>,
    // which the policy blocks (and its "explore" box would load documents from elsewhere).
    uiConfig: { layout: 'BaseLayout', deepLinking: true, displayOperationId: true, defaultModelsExpandDepth: 0 },
    theme: { title: 'e-CO gateway API' },
  });
}
