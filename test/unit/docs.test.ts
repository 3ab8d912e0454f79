// The documentation as a set of pages: the README stays short, and every relative link in it and
// in docs/ leads to a file that exists and, with a #fragment, to a heading of that page (GitHub's
// anchors), so that moving a section cannot leave a link behind.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The page's text outside fenced code blocks. */
const prose = (file: string) => readFileSync(join(root, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
const anchors = (file: string) => new Set([...prose(file).matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));

describe('documentation', () => {
  it('states one Node policy: the same minimum in the README, package.json engines and setup.sh', () => {
    const minimum = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node.replace(/^>=/, '');
    assert.match(minimum, /^\d+\.\d+$/);
    assert.ok(readFileSync(join(root, 'README.md'), 'utf8').includes(`Node ${minimum} or later`), 'README quick start');
    const setup = readFileSync(join(root, 'scripts/setup.sh'), 'utf8');
    assert.ok(setup.includes(`Node ${minimum} or later is needed`), 'setup.sh refuses below it');
    const [major, minor] = minimum.split('.').map(Number);
    assert.ok(setup.includes(`a > ${major} || (a === ${major} && b >= ${minor})`), 'setup.sh checks the same version');
  });

  it('keeps the README to about 250 lines', () => {
    const lines = readFileSync(join(root, 'README.md'), 'utf8').trimEnd().split('\n').length;
    assert.ok(lines <= 250, `README.md has ${lines} lines`);
  });

  it('has every relative link lead to a file, and every #fragment to a heading of it', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of prose(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, fragment] = target!.split('#');
        const file = path ? relative(root, join(root, dirname(page), path)) : page;
        if (!existsSync(join(root, file))) broken.push(`${page}: ${target} (no ${file})`);
        else if (fragment !== undefined && !(statSync(join(root, file)).isFile() && file.endsWith('.md') && anchors(file).has(fragment)))
          broken.push(`${page}: ${target} (no heading #${fragment} in ${file})`);
      }
    }
    assert.deepEqual(broken, []);
  });
});
