// .env.example, the file an operator copies to configure a gateway: it names every variable the
// gateway reads and nothing else, its four required variables are the only ones set, its key is an
// unusable placeholder, and each default it shows is the one src/config.ts applies.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, configVariables, loadConfig } from '../../src/config.ts';

const lines = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').split('\n');
/** NAME=value lines, set (uncommented) or shown as a default (`# NAME=value`). */
const entries = lines.flatMap((line) => {
  const match = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  return match ? [{ name: match[2]!, value: match[3]!, set: !match[1] }] : [];
});
const set = Object.fromEntries(entries.filter((e) => e.set).map((e) => [e.name, e.value]));

describe('.env.example', () => {
  it('names every variable the gateway reads, once, and no other', () => {
    assert.deepEqual(
      entries.map((e) => e.name),
      [...new Set(entries.map((e) => e.name))],
      'each variable once',
    );
    assert.deepEqual(entries.map((e) => e.name).sort(), [...configVariables].sort());
  });

  it('sets only the four required variables; the others are commented out', () => {
    assert.deepEqual(Object.keys(set).sort(), ['AMQP_URL', 'DATABASE_URL', 'KEY_ENCRYPTION_KEY', 'PARTY_ID']);
  });

  it('holds no usable KEY_ENCRYPTION_KEY: as copied, the configuration is refused for that variable alone', () => {
    assert.equal(set.KEY_ENCRYPTION_KEY, '');
    assert.throws(
      () => loadConfig(set),
      (error: unknown) => error instanceof ConfigError && /KEY_ENCRYPTION_KEY/.test(error.message) && error.message.trim().split('\n').length === 2,
    );
  });

  it('is a valid configuration once the key is generated, and each default it shows is the real one', () => {
    const base = { ...set, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    const defaults = loadConfig(base);
    for (const { name, value } of entries.filter((e) => !e.set)) {
      assert.deepEqual(loadConfig({ ...base, [name]: value }), defaults, `# ${name}=${value} is not the default`);
    }
  });
});
