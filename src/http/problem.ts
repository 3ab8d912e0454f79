// RFC 9457 problem details, the one error shape of the HTTP API: catalogue errors (errors.ts)
// become problem+json here and nowhere else.
import { type EcoError, type ErrorCode, errorCatalogue, type FieldError, PROBLEM_BASE } from '../errors.ts';

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
  /** The request's id (its X-Request-Id, or the one made for it): what to quote to an operator. */
  requestId?: string;
};

/** The problem `type` of a catalogue code. */
export function problemType(code: ErrorCode): string {
  return PROBLEM_BASE + errorCatalogue[code].slug;
}

/** The HTTP status and problem+json body of a catalogue error. */
export function toProblem(error: EcoError, requestId?: string): { status: number; body: ProblemBody } {
  const { status, title } = errorCatalogue[error.code];
  return {
    status,
    body: {
      type: problemType(error.code),
      title,
      status,
      ...(error.detail ? { detail: error.detail } : {}),
      ...(error.errors ? { errors: error.errors } : {}),
      ...error.extensions,
      ...(requestId ? { requestId } : {}),
    },
  };
}
