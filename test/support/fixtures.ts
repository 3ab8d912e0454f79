import { randomBytes } from 'node:crypto';
import { readExample } from '../../scripts/lib/examples.ts';
import type { Certificate } from '../../src/dataset/index.ts';

/** The example certificate with a fresh number (numbers are unique per issuer). */
export function exampleCertificate(overrides: Partial<Certificate> = {}): Certificate {
  return { ...readExample<Certificate>('certificate.json'), number: `KR-T-${randomBytes(5).toString('hex').toUpperCase()}`, ...overrides };
}
