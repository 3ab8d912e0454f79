import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Certificate } from '../../src/certificates/index.ts';

const example = readFileSync(new URL('../../examples/certificate.json', import.meta.url), 'utf8');

/** The example certificate with a fresh number (numbers are unique per issuer). */
export function exampleCertificate(overrides: Partial<Certificate> = {}): Certificate {
  return { ...(JSON.parse(example) as Certificate), number: `KR-T-${randomBytes(5).toString('hex').toUpperCase()}`, ...overrides };
}
