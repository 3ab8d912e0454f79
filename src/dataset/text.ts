// Text that Postgres can keep: no U+0000 (text and jsonb refuse it) and no unpaired UTF-16
// surrogate (jsonb refuses its \ud800 escape). PROFILE 1.1 makes either SCHEMA_INVALID on the wire;
// the REST API refuses it with 400. Whatever still has to be kept (error messages echoing input,
// dead letters) goes through safeText/safeJson.

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what this looks for
const UNSAFE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/** Deeper JSON is refused: nothing in the dataset nests beyond a few levels, and deep input costs stack. */
export const MAX_JSON_DEPTH = 32;

export type TextProblem = { path: (string | number)[]; message: string };

export function isSafeText(text: string): boolean {
  return !UNSAFE.test(text);
}

/**
 * The first string or member name in a JSON value holding U+0000 or a lone surrogate, or the first
 * value nested deeper than MAX_JSON_DEPTH. Iterative, so hostile nesting cannot exhaust the stack.
 */
export function findUnsafeText(value: unknown): TextProblem | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (!isSafeText(current)) return { path, message: 'must not contain U+0000 or an unpaired surrogate' };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (path.length >= MAX_JSON_DEPTH) return { path, message: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...path, i] });
      continue;
    }
    for (const [key, member] of Object.entries(current)) {
      if (!isSafeText(key)) return { path: [...path, key], message: 'the member name must not contain U+0000 or an unpaired surrogate' };
      stack.push({ value: member, path: [...path, key] });
    }
  }
  return undefined;
}

/** `text` with unsafe characters replaced by U+FFFD, cut to `max` characters without splitting a pair. */
export function safeText(text: string, max = 1000): string {
  const cleaned = text.replace(UNSAFE_ALL, '\ufffd');
  if (cleaned.length <= max) return cleaned;
  const cut = cleaned.slice(0, max);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** A copy of a JSON-able value whose strings and member names are all safe to keep; depth capped. */
export function safeJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return safeText(value, 100_000);
  if (typeof value === 'bigint') return String(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_JSON_DEPTH) return '(nested too deep)';
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (Array.isArray(value)) return value.map((v) => safeJson(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [safeText(k, 256), safeJson(v, depth + 1)]));
}
