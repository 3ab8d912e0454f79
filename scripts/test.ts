// `npm test`: starts real Postgres and RabbitMQ on free ports in temporary folders, runs every
// test file with node's test runner against them, and stops them again.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES_ENV, startServices } from './lib/services.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

// `npm test -- some.test.ts --test-name-pattern=x`: files or folders to run (default: all of test/),
// flags for node --test. `npm run test:integration` and `npm run test:e2e` pass their layer's folder.
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const only = args.filter((a) => !a.startsWith('--'));
const files = (only.length ? only : ['test']).flatMap((path) => (statSync(path).isDirectory() ? testFiles(path) : [path]));
const started = Date.now();
const services = await startServices({ fast: true });
console.log(`# services up in ${Date.now() - started} ms: postgres :${services.postgres.port}, rabbitmq :${services.rabbit.port}`);

const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...flags, ...files], {
    stdio: 'inherit',
    env: { ...process.env, [SERVICES_ENV]: JSON.stringify({ postgres: services.postgres.describe(), rabbit: services.rabbit.describe() }) },
  });
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  // Interrupted: let the test files stop what they started before the services go.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.prependListener(signal, () => child.kill(signal));
});

await services.stop();
process.exit(code);
