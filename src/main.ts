// Entry point: `npm start` runs api + relay + consumer; ROLE=api (or relay, consumer, a list) runs some.
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, guardProcess, startGateway } from './gateway.ts';

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
const gateway = await startGateway(config, log);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
