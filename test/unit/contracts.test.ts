// The published documents match the code, and configuration fails clearly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, configVariables, loadConfig } from '../../src/config.ts';
import { asyncapiDocument } from '../../src/exchange/asyncapi.ts';
import { messageTypes } from '../../src/exchange/envelope.ts';
import { openapiDocument } from '../../src/openapi.ts';

describe('contracts', () => {
  it('openapi.yaml is what the routes generate (run npm run openapi after changing a route)', async () => {
    const committed = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8');
    assert.equal(committed, await openapiDocument());
  });

  it('openapi.yaml documents every route with its problem responses', async () => {
    const document = await openapiDocument();
    for (const path of ['/certificates:', '/certificates/{number}:', '/admin/peers/{partyId}:', '/.well-known/jwks.json:', '/health:']) {
      assert.ok(document.includes(`\n  ${path}`), `${path} is documented`);
    }
  });

  it('openapi.yaml names, describes and types every operation for a client generator', async () => {
    const document = parse(await openapiDocument());
    assert.deepEqual(document.servers, [{ url: '/', description: 'the gateway serving this document' }]);
    assert.equal(document.info.license.identifier, 'Apache-2.0');
    const resolve = (answer: JsonSchema) => (answer.$ref ? document.components.responses[answer.$ref.split('/').pop()] : answer);
    const ids = new Set<string>();
    for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, JsonSchema>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.match(operation.operationId, /^[a-z]+[A-Za-z]*$/, `${where}: a camelCase operationId`);
        assert.ok(!ids.has(operation.operationId), `${where}: a unique operationId`);
        ids.add(operation.operationId);
        assert.ok(operation.summary && operation.description && operation.tags?.length, `${where}: summary, description, tags`);
        const statuses = Object.keys(operation.responses).map(Number);
        const declares = (...wanted: number[]) =>
          assert.deepEqual(
            wanted.filter((s) => !statuses.includes(s)),
            [],
            `${where}: declares ${wanted.join(', ')}`,
          );
        declares(408);
        if (operation.security?.length !== 0) declares(401, 403, 429, 503);
        if (operation.requestBody) declares(400, 413, 415);
        if (path.includes('{')) declares(400, 414);
        for (const status of statuses.filter((s) => s >= 400)) {
          assert.deepEqual(Object.keys(resolve(operation.responses[status]).content), ['application/problem+json'], `${where} ${status}: problem+json`);
        }
      }
    }
    const media = (path: string, method = 'get') => Object.keys(document.paths[path][method].responses['200'].content);
    assert.deepEqual(media('/certificates/{number}'), ['application/json', 'application/jose', 'application/pdf']);
    assert.deepEqual(media('/messages/{messageId}/receipt'), ['application/jose']);
    assert.deepEqual(media('/metrics'), ['text/plain']);
    assert.deepEqual(media('/console'), ['text/html']);
    const notReady = document.components.schemas.NotReadyProblem;
    assert.deepEqual([notReady.properties.postgres.enum, notReady.properties.broker.enum, notReady.required.includes('reasons')], [['ok', 'down', 'unwritable'], ['ok', 'down', 'alarm'], true]);
    assert.ok(!JSON.stringify(document.components.schemas).includes('"$id"'), 'no fragment $ids');
  });

  it('openapi.yaml shows a request example for every body and a success example for every answer with content', async () => {
    const document = parse(await openapiDocument());
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, JsonSchema>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        if (operation.requestBody && operation.requestBody.content['application/json'].example === undefined) missing.push(`${where}: request`);
        const successes = Object.entries(operation.responses as Record<string, JsonSchema>).filter(([status, answer]) => Number(status) < 300 && answer.content);
        if (successes.length === 0) continue;
        // At least one success answer of each operation has an example in at least one of its media types.
        const shown = successes.some(([, answer]) => Object.values(answer.content as Record<string, JsonSchema>).some((media) => media.example !== undefined));
        if (!shown) missing.push(`${where}: answer`);
      }
    }
    assert.deepEqual(missing, [], 'run npm run record-api-examples');
  });

  it('openapi.yaml bounds every string, array and map a request accepts', async () => {
    assert.deepEqual(unboundedInputs(parse(await openapiDocument())), []);
  });
});

type JsonSchema = { [key: string]: any };

/** Where a request (parameters and JSON body) takes a string, array or map without a stated bound. */
function unboundedInputs(document: JsonSchema): string[] {
  const resolve = (schema: JsonSchema): JsonSchema => (schema?.$ref ? resolve(document.components.schemas[schema.$ref.split('/').pop()]) : schema);
  // An anchored pattern without * + or {n,} bounds the length by itself.
  const boundedPattern = (pattern: string) => /^\^.*\$$/.test(pattern) && !/(^|[^\\])[*+]|\{\d+,\}/.test(pattern);
  const found: string[] = [];
  const walk = (raw: JsonSchema, where: string, seen: Set<JsonSchema>): void => {
    const schema = resolve(raw);
    if (!schema || seen.has(schema)) return;
    seen.add(schema);
    for (const choice of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) walk(choice, where, seen);
    const types = [schema.type].flat();
    const fixed = schema.enum !== undefined || schema.const !== undefined;
    if (types.includes('string') && !fixed && schema.maxLength === undefined && !(schema.pattern && boundedPattern(schema.pattern))) found.push(`${where}: string`);
    if (types.includes('array')) {
      if (schema.maxItems === undefined) found.push(`${where}: array`);
      if (schema.items) walk(schema.items, `${where}/*`, seen);
    }
    if (types.includes('object')) {
      for (const [name, property] of Object.entries(schema.properties ?? {})) walk(property as JsonSchema, `${where}/${name}`, seen);
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        if (schema.maxProperties === undefined) found.push(`${where}: map`);
        walk(schema.additionalProperties, `${where}/*`, seen);
      }
      if (schema.propertyNames) walk(schema.propertyNames, `${where} (names)`, seen);
    }
  };
  for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, JsonSchema>>)) {
    for (const [method, operation] of Object.entries(methods)) {
      const name = `${method.toUpperCase()} ${path}`;
      for (const parameter of operation.parameters ?? []) walk(parameter.schema, `${name} ${parameter.in} ${parameter.name}`, new Set());
      const body = operation.requestBody?.content?.['application/json']?.schema;
      if (body) walk(body, `${name} body`, new Set());
    }
  }
  return found;
}

describe('asyncapi', () => {
  it('asyncapi.yaml is what the message schemas generate (run npm run asyncapi after changing one)', () => {
    const committed = readFileSync(new URL('../../asyncapi.yaml', import.meta.url), 'utf8');
    assert.equal(committed, asyncapiDocument());
  });

  it('documents every message type of the profile, with the certificate schema', () => {
    const document = parse(asyncapiDocument());
    assert.equal(document.asyncapi, '3.0.0');
    assert.deepEqual(
      Object.values(document.components.messages)
        .map((m: any) => m.name)
        .sort(),
      [...messageTypes].sort(),
    );
    assert.ok(document.components.schemas.Certificate.properties.items, 'the certificate dataset is published');
    assert.equal(document.channels.inbox.address, 'eco.inbound');
  });
});

describe('configuration', () => {
  const valid = { PARTY_ID: 'KR-KCS', DATABASE_URL: 'postgres://localhost/eco', AMQP_URL: 'amqp://localhost', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };

  it('reads a valid environment with defaults', () => {
    const config = loadConfig(valid);
    assert.deepEqual(config.roles, ['api', 'relay', 'consumer']);
    assert.equal(config.http.port, 8080);
    assert.equal(config.sentAtWindowSeconds, 86400);
  });

  it('selects roles from ROLE', () => {
    assert.deepEqual(loadConfig({ ...valid, ROLE: 'relay' }).roles, ['relay']);
    assert.deepEqual(loadConfig({ ...valid, ROLE: 'api,consumer' }).roles, ['api', 'consumer']);
  });

  it('names every bad variable in one clear error', () => {
    assert.throws(
      () => loadConfig({ PARTY_ID: 'korea', DATABASE_URL: 'mysql://x', AMQP_URL: 'amqp://x', ROLE: 'web', KEY_ENCRYPTION_KEY: 'c2hvcnQ=' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        for (const name of ['PARTY_ID', 'DATABASE_URL', 'ROLE', 'KEY_ENCRYPTION_KEY']) assert.match(error.message, new RegExp(name));
        assert.doesNotMatch(error.message, /c2hvcnQ/, 'the key itself is never printed');
        return true;
      },
    );
  });

  it('the configuration reference (docs/operations.md) lists every variable', () => {
    const readme = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    const missing = configVariables.filter((name) => !readme.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });
});
