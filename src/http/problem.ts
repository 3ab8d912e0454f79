// RFC 9457 problem details: the one error shape of the HTTP API.
import type { z } from 'zod';

export type FieldError = { pointer: string; detail: string };

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
};

/** An error the API answers with as application/problem+json; anything else becomes a 500. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    /** RFC 9457 extension members; the route's response schema must name them. */
    readonly extensions?: Record<string, unknown>,
  ) {
    super(detail ?? title);
  }

  toBody(): ProblemBody {
    return {
      type: problemType(this.slug),
      title: this.title,
      status: this.status,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
      ...this.extensions,
    };
  }
}

export function problemType(slug: string): string {
  return `https://eco-gateway.dev/problems/${slug}`;
}

/** Turns a path into an RFC 6901 JSON pointer (`/items/0/hsCode`). */
export function toPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function zodFieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((issue) => ({ pointer: prefix + toPointer(issue.path), detail: issue.message }));
}

export const notFound = (what: string) => new HttpProblem(404, 'not-found', 'Not found', what);
export const invalid = (detail: string, errors: FieldError[]) => new HttpProblem(400, 'validation', 'Invalid request', detail, errors);
export const unprocessable = (detail: string, errors?: FieldError[]) => new HttpProblem(422, 'unprocessable', 'Request cannot be processed', detail, errors);
export const conflict = (detail: string) => new HttpProblem(409, 'conflict', 'Conflict', detail);
