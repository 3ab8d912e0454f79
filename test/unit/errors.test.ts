// The error catalogue: stable, unique problem types, each one documented in docs/rest-api.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorCatalogue } from '../../src/errors.ts';

describe('error catalogue', () => {
  it('gives every code its own problem type', () => {
    const slugs = Object.values(errorCatalogue).map((e) => e.slug);
    assert.equal(new Set(slugs).size, slugs.length);
  });

  it('lists every code, status and type in docs/rest-api.md', () => {
    const readme = readFileSync(new URL('../../docs/rest-api.md', import.meta.url), 'utf8');
    for (const [code, e] of Object.entries(errorCatalogue)) {
      assert.ok(readme.includes(`| \`${code}\` | ${e.status} | \`${e.slug}\` | ${e.title} |`), `${code} is missing from the problem types in docs/rest-api.md`);
    }
  });
});
