// A partner's broker that stops answering, for the noisy-neighbour test and bench phase: a TCP
// proxy in front of a real broker that passes everything until freeze(), then keeps every
// connection open and passes nothing either way, as a hung broker or a dropped network path does.
// Connections opened after freeze() get nothing at all (TCP accepted, no AMQP spoken).
import { once } from 'node:events';
import net from 'node:net';

export type FrozenBroker = {
  /** The AMQP URL to register instead of `target`'s. */
  url: string;
  freeze(): void;
  /** Connections opened so far and still open. */
  openConnections(): number;
  close(): Promise<void>;
};

export async function frozenBroker(target: string): Promise<FrozenBroker> {
  const upstream = new URL(target);
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    // Frozen: the connection is accepted and never read from, so the sender's writes back up.
    if (frozen) return client.pause();
    const broker = net.connect(Number(upstream.port || 5672), upstream.hostname);
    track(broker);
    broker.on('close', () => client.destroy());
    client.on('close', () => broker.destroy());
    client.on('data', (chunk) => broker.write(chunk));
    broker.on('data', (chunk) => client.write(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    freeze: () => {
      frozen = true;
      // Nothing is read any more, either way: what is in flight stays in the kernel's buffers.
      for (const socket of sockets) socket.pause();
    },
    openConnections: () => clients.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
