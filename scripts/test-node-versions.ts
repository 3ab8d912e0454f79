// `npm run test:node-versions`: the supported Node.js majors besides the one running this. Each
// comes from the npm registry (the `node` package, whose binary is itself a registry package)
// into .eco/node/<major>/, kept there for the next run; then the unit layer and a few integration
// files run on it, against one Postgres and RabbitMQ started for all of them.
//   ECO_NODE_MAJORS=22,24,26   the majors (default: these)
//   ECO_NODE_INTEGRATION=test/e2e/push.test.ts,...   the integration files (default: test/e2e/push.test.ts)
import { execFile as execFileCb, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SERVICES_ENV, startServices } from './lib/services.ts';

const execFile = promisify(execFileCb);
const majors = (process.env.ECO_NODE_MAJORS ?? '22,24,26').split(',').filter(Boolean);
const integration = (process.env.ECO_NODE_INTEGRATION ?? 'test/e2e/push.test.ts').split(',').filter(Boolean);
const unit = readdirSync('test/unit')
  .filter((name) => name.endsWith('.test.ts'))
  .map((name) => join('test/unit', name))
  .sort();

async function nodeBinary(major: string): Promise<string> {
  const prefix = resolve('.eco', 'node', major);
  const binary = join(prefix, 'node_modules', 'node', 'bin', 'node');
  const current = existsSync(binary) ? (await execFile(binary, ['--version']).catch(() => ({ stdout: '' }))).stdout : '';
  if (!current.startsWith(`v${major}.`)) await execFile('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, `node@${major}`]);
  return binary;
}

/** Runs a test layer on one Node binary; its output is kept and shown whole only on failure (the majors run side by side). */
function run(binary: string, flags: string[], files: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(binary, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...flags, ...files], { env });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code, signal) => done({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const started = Date.now();
const [binaries, services] = await Promise.all([Promise.all(majors.map(nodeBinary)), integration.length ? startServices({ fast: true }) : undefined]);
console.log(`# node ${majors.join(', ')} and services ready in ${Date.now() - started} ms`);
const env = { ...process.env, ...(services ? { [SERVICES_ENV]: JSON.stringify({ postgres: services.postgres.describe(), rabbit: services.rabbit.describe() }) } : {}) };

// Mostly waiting (processes, brokers, timers), so the majors run at once: about the time of one.
const failed = (
  await Promise.all(
    binaries.map(async (binary) => {
      const version = (await execFile(binary, ['--version'])).stdout.trim();
      const failures: string[] = [];
      for (const [layer, files] of [
        ['unit', unit],
        ['integration', integration],
      ] as const) {
        if (!files.length) continue;
        const layerStarted = Date.now();
        // The unit files in one process where the runner can (Node 23.6 and later): half the time, most
        // of it is each file's start through tsx. 22 has only the experimental flag, no faster there.
        const oneProcess = layer === 'unit' && Number(version.slice(1).split('.')[0]) >= 24 ? ['--test-isolation=none'] : [];
        const { code, output } = await run(binary, oneProcess, files, env);
        if (code !== 0) {
          console.log(output);
          failures.push(`${version} ${layer}`);
        }
        const counts = ['pass', 'fail'].map((what) => output.match(new RegExp(`^ℹ ${what} (\\d+)`, 'm'))?.[0].slice(2) ?? `${what} ?`).join(', ');
        console.log(`# node ${version}: ${layer} (${files.length} files) ${code === 0 ? 'passed' : 'FAILED'}: ${counts}, ${Date.now() - layerStarted} ms`);
      }
      return failures;
    }),
  )
).flat();

await services?.stop();
console.log(`# node versions: ${failed.length ? `failed: ${failed.join(', ')}` : 'all passed'} in ${Date.now() - started} ms`);
process.exit(failed.length ? 1 : 0);
