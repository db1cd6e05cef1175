#!/usr/bin/env node
// Builds every workspace package to JavaScript with type declarations in its dist/ (`tsc -b`, project
// references in tsconfig.build.json; incremental, so an up-to-date build takes about a second), then
// copies the files a package reads at run time from beside its modules (the server's SQL migrations)
// into dist/ at the same relative path. Last, it stamps each dist/ so that bin/mooring.mjs can tell a
// build older than its sources. The web console (packages/console) is built by Vite into its dist/,
// when a file it is built from is newer than its stamp; its build fails when its JavaScript is over
// budget. `npm ci` runs it (the root `prepare` script); so does `npm run build`.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['protocol', 'client', 'device-sdk', 'server', 'cli'];
/** What tsc writes; anything else in dist/ is an asset copied from src/. */
const COMPILED = /\.(js|d\.ts|tsbuildinfo)$/;
const STAMP = '.built';

function files(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else out.push(path);
  }
  return out;
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const started = Date.now();
const result = spawnSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error('build: tsc failed');
  process.exit(result.status ?? 1);
}

for (const name of PACKAGES) {
  const src = join(root, 'packages', name, 'src');
  const dist = join(root, 'packages', name, 'dist');
  // Assets are copied afresh each time, so one removed from src/ does not linger in dist/.
  for (const path of files(dist)) if (!COMPILED.test(path) && !path.endsWith(STAMP)) rmSync(path);
  for (const path of files(src)) {
    if (path.endsWith('.ts')) continue;
    const target = join(dist, relative(src, path));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(path, target);
  }
  writeFileSync(join(dist, STAMP), `${new Date().toISOString()}\n`);
}

// The console: static files, not a TypeScript project; what it imports of @mooring/protocol are types.
const consoleDir = join(root, 'packages', 'console');
const consoleStamp = join(consoleDir, 'dist', STAMP);
const consoleInputs = [
  ...files(join(consoleDir, 'src')),
  ...['index.html', 'vite.config.ts', 'package.json'].map((f) => join(consoleDir, f)),
];
const newestInput = Math.max(...consoleInputs.map((f) => statSync(f).mtimeMs));
if (!existsSync(consoleStamp) || statSync(consoleStamp).mtimeMs < newestInput) {
  const { build } = await import('vite');
  try {
    await build({ configFile: join(consoleDir, 'vite.config.ts') });
  } catch (e) {
    console.error(`build: the console failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
  writeFileSync(consoleStamp, `${new Date().toISOString()}\n`);
  const size = JSON.parse(readFileSync(join(consoleDir, 'dist', '.size.json'), 'utf8'));
  console.error(
    `build: console JavaScript ${(size.gzipBytes / 1024).toFixed(1)} KB gzipped (${(size.bytes / 1024).toFixed(1)} KB) in ${size.files.length} file(s), budget ${size.budgetGzipBytes / 1024} KB`,
  );
}
console.error(`build: packages/*/dist up to date (${((Date.now() - started) / 1000).toFixed(1)} s)`);
