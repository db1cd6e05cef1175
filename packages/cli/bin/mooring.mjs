#!/usr/bin/env node
// Entry point of the `mooring` command. It runs the built JavaScript in dist/ (`npm run build`; `npm ci`
// runs it), which starts in a fraction of the time the TypeScript takes through a loader.
// Inside the repository it never runs a build older than the sources: node started with
// `--conditions=mooring-source` (`npm run bench` sets it in NODE_OPTIONS, so the servers it spawns
// inherit it) resolves @mooring/* to src/, and a build older than any source file or no build at all
// falls back to src/; both run through tsx, a development dependency of the repository.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const PACKAGES = ['protocol', 'client', 'device-sdk', 'server', 'cli'];
const packagesDir = new URL('../../', import.meta.url);

/** Why the build cannot be trusted, when this runs inside the repository's workspace; else undefined. */
function staleBuild() {
  if (!existsSync(new URL('cli/src/main.ts', packagesDir))) return undefined; // an installed package
  const newest = (dir) => {
    let latest = { mtimeMs: 0, path: '' };
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      const found = entry.isDirectory()
        ? newest(path)
        : entry.name.endsWith('.test.ts')
          ? undefined
          : { mtimeMs: statSync(path).mtimeMs, path };
      if (found && found.mtimeMs > latest.mtimeMs) latest = found;
    }
    return latest;
  };
  for (const name of PACKAGES) {
    const dir = fileURLToPath(new URL(name, packagesDir));
    const stamp = `${dir}/dist/.built`;
    if (!existsSync(stamp)) return `there is no build of packages/${name}`;
    const source = newest(`${dir}/src`);
    if (source.mtimeMs > statSync(stamp).mtimeMs)
      return `packages/${name}/src/${source.path.slice(dir.length + 5)} is newer than the build`;
  }
  return undefined;
}

/** Adds the `mooring-source` condition to every resolution, as `--conditions=mooring-source` would. */
const SOURCE_CONDITION_HOOK =
  'data:text/javascript,export function resolve(specifier, context, next) {' +
  ' return next(specifier, { ...context, conditions: [...context.conditions, "mooring-source"] }); }';

let entry;
let resolveError;
try {
  entry = import.meta.resolve('@mooring/cli');
} catch (err) {
  resolveError = err; // no dist/ (yet)
}
if (!entry?.endsWith('.ts')) {
  const stale = staleBuild();
  if (stale) {
    process.stderr.write(`mooring: ${stale}; running the sources (slower start): npm run build\n`);
    entry = new URL('../src/main.ts', import.meta.url).href;
    (await import('tsx/esm/api')).register();
    // Registered last, so it runs first: tsx then resolves with the added condition.
    register(SOURCE_CONDITION_HOOK);
  } else if (!entry) throw resolveError;
} else (await import('tsx/esm/api')).register();
const { run } = await import(entry);
process.exitCode = await run(process.argv.slice(2));
