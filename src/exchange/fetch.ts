// Reading an answer from a URL someone else controls (a peer's JWKS or trust list, a status service).

/** The body as text, refused as soon as it passes `limit` bytes: a peer's URL cannot fill our memory. */
export async function readAtMost(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) throw new Error(`the answer is ${declared} bytes, over the ${limit} allowed`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > limit) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`the answer passed ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
