// `npm run build`: compiles src/ to JavaScript in dist/ (tsconfig.build.json: the `.ts` import
// extensions are rewritten to `.js`), and copies the files src/ reads at run time (console.html,
// data files) beside the compiled code. dist/ is made afresh, so no stale module survives a rename.
// migrations/ is not copied: dist/db/migrate.js finds it at ../../migrations/, as src/db/migrate.ts does.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');

function assets(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? assets(join(dir, e.name)) : e.name.endsWith('.ts') ? [] : [join(dir, e.name)]));
}

const started = Date.now();
rmSync(dist, { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
const copied = assets(src).map((file) => {
  cpSync(file, join(dist, relative(src, file)));
  return relative(src, file);
});
console.log(`build: dist/ in ${Date.now() - started} ms (copied ${copied.join(', ') || 'no assets'})`);
