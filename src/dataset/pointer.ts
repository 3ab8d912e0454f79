/** Turns a path into an RFC 6901 JSON pointer (`/items/0/hsCode`). */
export function toPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
