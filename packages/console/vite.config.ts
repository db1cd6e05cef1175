/**
 * The console's build: Preact pages bundled by Vite into `dist/`, which the server serves at
 * `/console`. No inline script or style (the server's Content-Security-Policy allows neither), no
 * module-preload polyfill (one entry chunk), no source maps. The build measures what a browser
 * downloads: the JavaScript gzipped, written to `dist/.size.json` and printed, and the build fails
 * above the budget.
 */
import { gzipSync } from 'node:zlib';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/** The whole console's JavaScript, gzipped, at most. */
export const JS_BUDGET_BYTES = 150 * 1024;

function jsBudget(): Plugin {
  return {
    name: 'mooring-js-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.values(bundle)
        .filter((out) => out.type === 'chunk')
        .map((chunk) => {
          const bytes = Buffer.from(chunk.code);
          return {
            file: chunk.fileName,
            bytes: bytes.length,
            gzipBytes: gzipSync(bytes, { level: 9 }).length,
          };
        });
      const bytes = files.reduce((n, f) => n + f.bytes, 0);
      const gzipBytes = files.reduce((n, f) => n + f.gzipBytes, 0);
      const report = { gzipBytes, bytes, budgetGzipBytes: JS_BUDGET_BYTES, files };
      this.emitFile({
        type: 'asset',
        fileName: '.size.json',
        source: `${JSON.stringify(report, null, 2)}\n`,
      });
      // scripts/build.mjs prints the size from .size.json; over the budget, the build fails here.
      if (gzipBytes > JS_BUDGET_BYTES)
        this.error(
          `console: JavaScript ${(gzipBytes / 1024).toFixed(1)} KB gzipped is over the budget of ${JS_BUDGET_BYTES / 1024} KB`,
        );
    },
  };
}

export default defineConfig({
  root: dirname(fileURLToPath(import.meta.url)),
  base: '/console/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  plugins: [jsBudget()],
});
