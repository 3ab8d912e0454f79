// docker compose: makes the least-privilege users on one party's broker, through the management
// HTTP API, as the README's rabbitmqctl commands do natively: the gateway's own user (no
// administrator tag, only its vhost) and the peer's user, which may only write to eco.inbound.
// The broker's administrator (RABBITMQ_DEFAULT_USER) is used for this and nothing else.
const { BROKER_API, BROKER_ADMIN, BROKER_ADMIN_PASSWORD, GATEWAY_USER, GATEWAY_PASSWORD, PEER_USER, PEER_PASSWORD } = process.env;
if (!BROKER_API || !BROKER_ADMIN || !BROKER_ADMIN_PASSWORD || !GATEWAY_USER || !GATEWAY_PASSWORD || !PEER_USER || !PEER_PASSWORD) {
  console.error('broker-users: BROKER_API, BROKER_ADMIN, BROKER_ADMIN_PASSWORD, GATEWAY_USER, GATEWAY_PASSWORD, PEER_USER and PEER_PASSWORD are required');
  process.exit(2);
}
const authorization = `Basic ${Buffer.from(`${BROKER_ADMIN}:${BROKER_ADMIN_PASSWORD}`).toString('base64')}`;

async function put(path: string, body: object): Promise<void> {
  const response = await fetch(`${BROKER_API}/api/${path}`, { method: 'PUT', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`PUT /api/${path}: ${response.status} ${await response.text()}`);
}

const vhost = encodeURIComponent('/');
await put(`users/${encodeURIComponent(GATEWAY_USER)}`, { password: GATEWAY_PASSWORD, tags: '' });
await put(`permissions/${vhost}/${encodeURIComponent(GATEWAY_USER)}`, { configure: '.*', write: '.*', read: '.*' });
await put(`users/${encodeURIComponent(PEER_USER)}`, { password: PEER_PASSWORD, tags: '' });
await put(`permissions/${vhost}/${encodeURIComponent(PEER_USER)}`, { configure: '^$', write: '^eco\\.inbound$', read: '^$' });
console.log(`broker-users: ${GATEWAY_USER} (its vhost only) and ${PEER_USER} (write to eco.inbound only) at ${BROKER_API}`);
