// `node dist/healthcheck.js`: the container's HEALTHCHECK. Exit 0 when this process's API answers
// /ready (Postgres and the broker reachable), 1 with the reason otherwise. A relay or consumer
// without the API has nothing to ask: it exits 0, and the container ends if the gateway does.
// Reads the gateway's own HTTP_HOST, HTTP_PORT and ROLE, without the rest of its configuration.
const roles = (process.env.ROLE ?? 'all').split(',').map((role) => role.trim());
if (!roles.includes('all') && !roles.includes('api')) process.exit(0);

const listening = process.env.HTTP_HOST ?? '127.0.0.1';
const host = ['0.0.0.0', '::', ''].includes(listening) ? '127.0.0.1' : listening.includes(':') ? `[${listening}]` : listening;
const url = `http://${host}:${process.env.HTTP_PORT ?? '8080'}/ready`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (response.ok) process.exit(0);
  console.error(`${url}: ${response.status} ${await response.text()}`);
} catch (error) {
  console.error(`${url}: ${(error as Error).message}`);
}
process.exit(1);
