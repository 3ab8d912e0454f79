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

const only = process.argv.slice(2);
const files = only.length ? only : testFiles('test');
const started = Date.now();
const services = await startServices({ fast: true });
console.log(`# services up in ${Date.now() - started} ms: postgres :${services.postgres.port}, rabbitmq :${services.rabbit.port}`);

const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    env: { ...process.env, [SERVICES_ENV]: JSON.stringify({ postgres: services.postgres.describe(), rabbit: services.rabbit.describe() }) },
  });
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});

await services.stop();
process.exit(code);
