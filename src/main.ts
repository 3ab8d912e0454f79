// Entry point: `npm start` runs api + relay + consumer; ROLE=api (or relay, consumer, a list) runs some.
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, type Gateway, guardProcess, StartupError, startGateway } from './gateway.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

const log = createLogger(config);
guardProcess(log);
/** An expected failure: one line saying why and what to do, no stack trace, a non-zero exit. */
const cannotStart = (error: StartupError): never => {
  log.fatal(`cannot start: ${error.message}`);
  process.exit(1);
};
/** The same for what ends a started gateway (the broker refusing us once it is up). */
const cannotGoOn = (error: StartupError): never => {
  log.fatal(`stopping: ${error.message}`);
  process.exit(1);
};
let gateway: Gateway;
try {
  gateway = await startGateway(config, log, { onFatal: cannotGoOn });
} catch (error) {
  if (error instanceof StartupError) cannotStart(error);
  throw error;
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineSeconds: config.stopTimeoutSeconds }, 'stopping');
    // A stop stuck on a frozen broker or database must not hold the process (and its orchestrator) forever.
    setTimeout(() => {
      log.fatal({ deadlineSeconds: config.stopTimeoutSeconds }, 'stop deadline passed (STOP_TIMEOUT_SECONDS); exiting without a clean stop');
      process.exit(1);
    }, config.stopTimeoutSeconds * 1000).unref();
    gateway.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
