// The OpenAPI document as callers get it: served by the gateway (JSON, YAML), rendered as a
// reference page in headless Chromium under its Content-Security-Policy, and turned into a
// TypeScript client (openapi-typescript + openapi-fetch) that issues a CO and looks it up.
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { parse } from 'yaml';
import { createApiKey } from '../../src/auth/index.ts';
import { referencePolicy } from '../../src/http/reference.ts';
import { generateTypes } from '../../tools/openapi-client/generate.ts';
import { launchChromium } from '../support/browser.ts';
import { A, api, B, exampleCertificate, type Pair, startPair } from '../support/gateways.ts';

const execFile = promisify(execFileCb);
const committed = readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8');

describe('OpenAPI document, reference page and generated client', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair?.stop();
  });

  it('serves the committed document as JSON and YAML, without an API key', async () => {
    const json = await api(pair.a, 'GET', '/openapi.json', undefined, { authorization: '' });
    assert.equal(json.status, 200);
    assert.match(json.contentType, /^application\/json/);
    assert.deepEqual(json.body, parse(committed));
    const yaml = await api(pair.a, 'GET', '/openapi.yaml', undefined, { authorization: '' });
    assert.equal(yaml.status, 200);
    assert.match(yaml.contentType, /^application\/yaml/);
    assert.equal(yaml.body, committed);
  });

  describe('reference page in headless Chromium', () => {
    let browser: Browser;
    before(async () => {
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
    });

    it('renders every tag and operation from files the gateway serves, under a strict policy', async () => {
      const page = await browser.newPage();
      const problems: string[] = [];
      const elsewhere: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      const origin = pair.a.url!;
      page.on('request', (request) => {
        if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) elsewhere.push(request.url());
      });
      const response = await page.goto(`${pair.a.url}/reference`);
      assert.equal(response?.status(), 200);
      assert.equal(response?.headers()['content-security-policy'], referencePolicy);
      await page.waitForSelector('#operations-certificates-issueCertificate');
      const document = parse(committed);
      const operations = Object.values(document.paths as Record<string, Record<string, { operationId: string; tags: string[] }>>).flatMap((methods) => Object.values(methods));
      for (const { operationId, tags } of operations) assert.equal(await page.locator(`#operations-${tags.at(0)}-${operationId}`).count(), 1, `${operationId} is shown`);
      // Open one operation: its example request body (examples/certificate.json) is shown.
      await page.click('#operations-certificates-issueCertificate .opblock-summary');
      await page.waitForSelector('#operations-certificates-issueCertificate :text("Korea Customs Service")');
      assert.deepEqual(problems, [], 'no script error and no Content-Security-Policy violation');
      assert.deepEqual(elsewhere, [], 'nothing fetched from anywhere but the gateway');
    });
  });

  it('generates a TypeScript client from openapi.yaml that issues a CO and looks it up', async () => {
    const folder = new URL('../support/openapi-client/', import.meta.url);
    writeFileSync(new URL('api.ts', folder), await generateTypes(new URL('../../openapi.yaml', import.meta.url)));
    // The client code must type-check against the generated types, as a back-office's build would.
    const tsc = [new URL('../../node_modules/typescript/bin/tsc', import.meta.url).pathname, '-p', new URL('tsconfig.json', folder).pathname];
    await execFile(process.execPath, tsc).catch((error: { stdout: string }) => assert.fail(`the client does not type-check against the generated types:\n${error.stdout}`));
    const { issueAndLookUp } = await import(new URL('client.ts', folder).href);
    const { key } = await createApiKey(pair.a.db, 'generated client', ['issuer']);
    const co = exampleCertificate();
    const result = await issueAndLookUp(pair.a.url, key, co);
    assert.deepEqual(result.issued, { status: 201, number: co.number, recipient: B });
    assert.deepEqual(result.found, { status: 200, version: 1, state: 'valid', counterparty: B });
    assert.equal(result.signed.status, 200);
    assert.equal(result.signed.contentType, 'application/jose');
    const [header, payload] = result.signed.jws
      .split('.')
      .slice(0, 2)
      .map((part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    assert.equal(header.alg, 'ES256');
    assert.equal(payload.body.number, co.number);
    assert.equal(payload.from, A);
    assert.equal(result.missing.status, 404);
    assert.equal(result.missing.type, 'https://eco-gateway.dev/problems/not-found');
    assert.match(result.missing.requestId, /^[0-9a-f-]{36}$/);
  });
});
