// The README's architecture section draws the layers and docs/architecture.md names what each module
// imports; this keeps both true, and keeps every import of another module going through its index.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each import of a file under src/, as [importing module, imported path relative to src/]. */
function imports(): { from: string; file: string; target: string }[] {
  return files(src).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const from = relative(src, file).split('/').length > 1 ? relative(src, file).split('/')[0]! : relative(src, file);
    return [...text.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((m) => ({ from, file: relative(src, file), target: relative(src, join(file, '..', m[1]!)) }));
  });
}

const moduleOf = (path: string) => (path.includes('/') ? `${path.split('/')[0]}/` : path);

describe('architecture', () => {
  it('imports another module only through its index.ts', () => {
    const internal = imports().filter(({ file, target }) => target.includes('/') && moduleOf(target) !== moduleOf(file) && !target.endsWith('/index.ts'));
    assert.deepEqual(
      internal.map(({ file, target }) => `${file} -> ${target}`),
      [],
    );
  });

  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const architecture = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

  it('has each line of the layer diagram in the README import only from the lines below it', () => {
    const block = /```text\n# layers\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has a "# layers" block');
    // A line is its modules (folders and root files), two spaces apart, then what they are.
    const layer = new Map<string, number>();
    block
      .trim()
      .split('\n')
      .forEach((line, depth) => {
        for (const name of line.split(/\s{2,}/).filter((part) => /^[a-z]+(\/|\.ts)$/.test(part))) layer.set(name, depth);
      });
    const upward = imports()
      .map(({ file, target }) => ({ from: moduleOf(file), to: moduleOf(target) }))
      .filter(({ from, to }) => from.endsWith('/') && from !== to)
      .filter(({ from, to }) => !((layer.get(from) ?? Infinity) < (layer.get(to) ?? -Infinity)))
      .map(({ from, to }) => `${from} -> ${to}`);
    assert.deepEqual([...new Set(upward)], []);
  });

  it('has each module import what docs/architecture.md says, and nothing else', () => {
    const block = /```text\n# module imports\n([\s\S]*?)```/.exec(architecture)?.[1];
    assert.ok(block, 'docs/architecture.md has a "# module imports" block');
    const documented = new Map(
      block
        .trim()
        .split('\n')
        .map((line) => {
          const [name, deps = ''] = line.split('->').map((s) => s.trim());
          return [name!, deps === '-' ? [] : deps.split(/\s+/).sort()] as const;
        }),
    );
    const actual = new Map<string, Set<string>>();
    for (const { file, target } of imports()) {
      const from = moduleOf(file);
      const to = moduleOf(target);
      if (!from.endsWith('/') || to === from) continue;
      actual.set(from, (actual.get(from) ?? new Set()).add(to));
    }
    const modules = [...new Set([...documented.keys(), ...actual.keys()])].sort();
    for (const name of modules) assert.deepEqual(documented.get(name), [...(actual.get(name) ?? [])].sort(), `${name} imports`);
  });
});
