/**
 * Start-up check for a bundled app (esbuild, webpack, rollup): a library compiled into the bundle never
 * goes through require() or import, so no hook can reach it. Said once in the debug log, with the
 * libraries whose code the bundle seems to hold, by their module paths; a minified bundle keeps none, and
 * only esbuild's is recognised as one.
 */
import fs from 'node:fs';
import { log } from './logger';

const BUNDLER_MARKERS = ['__webpack_require__', '__commonJS(', '__toESM(', 'createCommonjsModule(', '__esbuild'];
/** Read at most this much of the main file: enough for any bundler's prologue and module paths. */
const MAX_READ = 32 * 1024 * 1024;

/**
 * What esbuild's CommonJS wrapper (`__commonJS`) still shows once minified: the helpers' names are gone,
 * and so are the module paths, so which libraries such a bundle holds cannot be told.
 */
const MINIFIED_ESBUILD = /\([\w$]+=\{exports:\{\}\}\)\.exports/;

/**
 * The hooked packages whose code `source` (a bundle) contains, judged by their module paths; `minified`
 * for a minified esbuild bundle (any library in it goes untraced, but which it holds is unknown).
 */
export function bundledLibraries(source: string, packages: readonly string[]): string[] | 'minified' {
  if (BUNDLER_MARKERS.some((marker) => source.includes(marker))) return packages.filter((name) => source.includes(`node_modules/${name}/`));
  return MINIFIED_ESBUILD.test(source) ? 'minified' : [];
}

export function reportBundledLibraries(mainFile: string | undefined, packages: readonly string[]): void {
  if (mainFile === undefined) return;
  let source: string;
  try {
    const fd = fs.openSync(mainFile, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(fs.fstatSync(fd).size, MAX_READ));
      fs.readSync(fd, buffer, 0, buffer.length, 0);
      source = buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return;
  }
  const found = bundledLibraries(source, packages);
  if (found === 'minified') {
    log(
      '%s looks like a minified bundle (esbuild): a hooked library compiled into it cannot be traced, and which ones it holds cannot be told; mark them external (esbuild --external:<name> or --packages=external)',
      mainFile,
    );
  } else if (found.length > 0) {
    log(
      '%s is a bundle that contains %s: bundled libraries cannot be traced; mark them external (esbuild --external:%s, webpack externals)',
      mainFile,
      found.join(', '),
      found[0],
    );
  }
}
