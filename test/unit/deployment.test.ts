// The container deployment, read rather than run (no Docker engine on these machines): the image
// ships the compiled gateway on the recommended Node LTS with a HEALTHCHECK, and compose runs it
// like the native setup on supported RabbitMQ and Postgres, with passwords, volumes and healthchecks.
// Also what RabbitMQ 4 removed (classic mirrored queues, transient non-exclusive queues, global QoS)
// is nowhere in src/.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
/** The Node.js major the image and the README recommend: the Active LTS. */
const RECOMMENDED_NODE = 26;

// Compose's own interpolation, enough for this file: ${NAME}, ${NAME:?message}, ${NAME:-default}.
const env = {
  POSTGRES_PASSWORD: 'pg-secret',
  RABBITMQ_PASSWORD: 'mq-secret',
  GATEWAY_DB_PASSWORD: 'gw-db-secret',
  GATEWAY_BROKER_PASSWORD: 'gw-mq-secret',
  PEER_BROKER_PASSWORD: 'peer-mq-secret',
  KEY_ENCRYPTION_KEY_KR: randomBytes(32).toString('base64'),
  KEY_ENCRYPTION_KEY_VN: randomBytes(32).toString('base64'),
};
const interpolated = read('docker-compose.yml').replace(/\$\{([A-Z_]+)(?::([?-])([^}]*))?\}/g, (_, name: keyof typeof env, op?: string, rest?: string) => {
  const value = env[name];
  if (value !== undefined) return value;
  if (op === '-') return rest!;
  throw new Error(`\${${name}} is not among the variables the compose file documents`);
});
const compose = parse(interpolated) as {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      environment?: Record<string, string>;
      volumes?: string[];
      healthcheck?: { test: string[] };
      depends_on?: Record<string, { condition: string }>;
      hostname?: string;
    }
  >;
  volumes: Record<string, unknown>;
};
const services = compose.services;

describe('deployment', () => {
  it('builds the image in two stages and runs the compiled gateway on the Node Active LTS, with a HEALTHCHECK on /ready', () => {
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, new RegExp(`^ARG NODE_VERSION=${RECOMMENDED_NODE}$`, 'm'));
    assert.deepEqual(
      [...dockerfile.matchAll(/^FROM (.*)$/gm)].map((m) => m[1]),
      ['node:$NODE-slim AS build', 'node:$NODE-slim AS runtime'].map((from) => from.replace('$NODE', '$' + '{NODE_VERSION}')),
    );
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    assert.match(runtime, /npm ci --omit=dev/, 'production dependencies only');
    assert.deepEqual(
      [...runtime.matchAll(/^COPY (.*)$/gm)].map((m) => m[1]),
      // The workspace's package.json lets npm ci read the lock file (its dev dependencies are left out);
      // examples/ holds the served OpenAPI document's examples.
      ['package.json package-lock.json ./', 'tools/openapi-client/package.json ./tools/openapi-client/', 'migrations ./migrations', 'examples ./examples', '--from=build /app/dist ./dist'],
    );
    assert.match(runtime, /^HEALTHCHECK .*CMD \["node", "dist\/healthcheck\.js"\]$/m);
    assert.match(read('src/healthcheck.ts'), /\/ready/);
    assert.match(runtime, /^CMD \["node", "dist\/main\.js"\]$/m);
    assert.match(runtime, /^USER node$/m);
    const pkg = JSON.parse(read('package.json'));
    assert.equal(pkg.scripts.start, 'node dist/main.js');
    assert.equal(pkg.dependencies.tsx, undefined, 'tsx is a development tool');
    assert.match(read('.dockerignore'), /^node_modules$/m);
  });

  it('runs a supported RabbitMQ 4 and a Postgres that asks for a password, each with a named volume and a healthcheck', () => {
    for (const name of ['rabbitmq-kr', 'rabbitmq-vn']) {
      const rabbit = services[name]!;
      assert.match(rabbit.image!, /^rabbitmq:4\.\d+-management$/);
      assert.equal(rabbit.hostname, name, 'a fixed node name, so the data in the volume is found again');
      assert.ok(rabbit.environment?.RABBITMQ_DEFAULT_PASS);
    }
    const postgres = services.postgres!;
    assert.equal(postgres.environment?.POSTGRES_HOST_AUTH_METHOD, undefined, 'no trust');
    assert.equal(postgres.environment?.POSTGRES_PASSWORD, env.POSTGRES_PASSWORD);
    for (const name of ['postgres', 'rabbitmq-kr', 'rabbitmq-vn']) {
      assert.ok(services[name]!.healthcheck?.test.length, `${name} healthcheck`);
      const named = (services[name]!.volumes ?? []).map((v) => v.split(':')[0]!).filter((v) => !v.startsWith('.'));
      assert.equal(named.length, 1, `${name} keeps its data in a named volume`);
      assert.ok(named[0]! in compose.volumes, `${named[0]} is declared`);
    }
  });

  it('starts each gateway from the same variables as natively, as least-privilege users, once its database and broker users are ready', () => {
    for (const [name, party, broker, other] of [
      ['gateway-kr', 'kr', 'rabbitmq-kr', 'vn'],
      ['gateway-vn', 'vn', 'rabbitmq-vn', 'kr'],
    ] as const) {
      const gateway = services[name]!;
      assert.equal(gateway.build, '.', 'the runtime stage');
      assert.deepEqual(gateway.depends_on, { postgres: { condition: 'service_healthy' }, [`broker-users-${party}`]: { condition: 'service_completed_successfully' } });
      const config = loadConfig({ ...gateway.environment, HTTP_HOST: '0.0.0.0', HTTP_PORT: '8080' });
      // Not the superuser (postgres) nor the brokers' administrator (eco): their own logins.
      assert.equal(config.databaseUrl, `postgres://eco_${party}:gw-db-secret@postgres:5432/eco_${party}`);
      assert.match(config.amqpUrl, new RegExp(`^amqp://${party}-[a-z]+-gateway:gw-mq-secret@${broker}:5672/$`));
      const users = services[`broker-users-${party}`]!;
      assert.equal(users.environment?.BROKER_API, `http://${broker}:15672`);
      assert.equal(new URL(config.amqpUrl).username, users.environment?.GATEWAY_USER);
      // The other party publishes to this broker as the peer user made here, which may only write to eco.inbound.
      const peerUrl = new URL(services.demo!.environment![`DEMO_${party.toUpperCase()}_AMQP`]!);
      assert.equal(peerUrl.hostname, broker);
      assert.equal(peerUrl.username, users.environment?.PEER_USER);
      assert.match(peerUrl.username, new RegExp(`^${other}-`));
    }
    const broker = read('scripts/docker/broker-users.ts');
    assert.match(broker, /tags: ''/, 'no administrator tag');
    assert.match(broker, /configure: '\^\$', write: '\^eco\\\\\.inbound\$', read: '\^\$'/, 'the peer writes to eco.inbound only');
    const databases = read('scripts/docker/init-databases.sh');
    assert.match(databases, /CREATE ROLE :"role" LOGIN PASSWORD :'password'/);
    assert.match(databases, /CREATE DATABASE :"role" OWNER :"role"/);
    assert.doesNotMatch(databases, /SUPERUSER|CREATEROLE|CREATEDB/);
    assert.deepEqual(services.demo!.build, { context: '.', target: 'build' }, 'the demo script needs tsx and the sources');
    assert.deepEqual(services.demo!.depends_on, { 'gateway-kr': { condition: 'service_healthy' }, 'gateway-vn': { condition: 'service_healthy' } });
  });

  it('uses nothing RabbitMQ 4 removed: no mirrored or transient non-exclusive queues, no global QoS', () => {
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    const code = files(join(root, 'src')).map((file) => [file, readFileSync(file, 'utf8')] as const);
    const found = (pattern: RegExp) => code.filter(([, text]) => pattern.test(text)).map(([file]) => file);
    assert.deepEqual(found(/ha-mode|x-ha-|ha-params|ha-sync/), [], 'classic queue mirroring');
    assert.deepEqual(found(/durable:\s*false/), [], 'transient queues');
    assert.deepEqual(found(/\.prefetch\([^)]*,/), [], 'prefetch with the global flag');
    const declared = code.flatMap(([, text]) => [...text.matchAll(/assertQueue\([^,]+,\s*\{([^}]*)/g)].map((m) => m[1]!));
    assert.ok(declared.length > 0);
    for (const options of declared) {
      assert.match(options, /durable: true/);
      assert.match(options, /'x-queue-type': 'quorum'/);
    }
  });
});
