// The load generator's HTTP client: node:http over kept-alive sockets. fetch() costs the generator
// about 1 core-ms per request, as much as a gateway spends on it, and the generator shares the
// machine with what it measures; this costs a fraction of that.
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export type Reply = { status: number; headers: http.IncomingHttpHeaders; body: string };

/** One request; rejects on a socket error or after `timeoutMs` (the error's name is then TimeoutError). */
export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs: number }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.body ? { ...options.headers, 'content-length': Buffer.byteLength(options.body) } : options.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(options.body);
  });
}
