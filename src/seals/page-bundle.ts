// The /verify page: verify.html with its script (page.ts and what it imports, bundled by esbuild)
// inline, so that the page works alone, saved to disk and opened from a file.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

let script: Promise<string> | undefined;
let template: Promise<string> | undefined;

/** The page's script, bundled once per process (page.ts under tsx, page.js once built). */
function bundle(): Promise<string> {
  const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  // esbuild is loaded only for this: no process pays for it at start.
  script ??= import('esbuild')
    .then(({ build }) =>
      build({
        entryPoints: [fileURLToPath(new URL(`./page.${extension}`, import.meta.url))],
        bundle: true,
        write: false,
        minify: true,
        format: 'iife',
        target: 'es2022',
        platform: 'browser',
        legalComments: 'none',
        logLevel: 'silent',
      }),
    )
    .then((result) => result.outputFiles[0]!.text);
  script.catch(() => {
    script = undefined; // tried again at the next request
  });
  return script;
}

/** The page, with the trust keys to pin when none is given (this gateway's, as its list names them). */
export async function verifyPage(pinned: readonly string[]): Promise<string> {
  template ??= readFile(new URL('./verify.html', import.meta.url), 'utf8');
  const [html, code] = await Promise.all([template, bundle()]);
  // Neither may close the script element it sits in.
  const inline = (text: string) => text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
  return html.replace('__PINNED__', () => inline(JSON.stringify(pinned))).replace('__SCRIPT__', () => inline(code));
}
