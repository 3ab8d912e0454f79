import { randomBytes } from 'node:crypto';
import { readExample } from '../../scripts/lib/examples.ts';
import type { Certificate } from '../../src/dataset/index.ts';

/** The example certificate with a fresh number (numbers are unique per issuer). */
export function exampleCertificate(overrides: Partial<Certificate> = {}): Certificate {
  return { ...readExample<Certificate>('certificate.json'), number: `KR-T-${randomBytes(5).toString('hex').toUpperCase()}`, ...overrides };
}

/** The date `days` after (or, negative, before) a YYYY-MM-DD date: tests date things relative to the examples, which move with today. */
export function daysAfter(date: string, days: number): string {
  return new Date(Date.parse(date) + days * 86_400_000).toISOString().slice(0, 10);
}
