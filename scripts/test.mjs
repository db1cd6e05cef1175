#!/usr/bin/env node
// Runs every *.test.ts under packages/ with node's test runner through tsx.
// Node 20's runner takes no glob, so the file list is built here.
// The tests run the TypeScript sources, never a build that may be older: the runner is started with
// the `mooring-source` export condition, which it hands to each test file's process, so @mooring/*
// resolve to src/ in the test files. The node processes a test starts (`mooring serve`, `mooring demo`,
// the CLI) do not inherit it: bin/mooring.mjs runs the build when it is newer than every source file
// (`npm test` builds first) and the sources through tsx otherwise, so they never run old code either,
// and start in a fraction of the time when the build is current (every CLI call of the CLI tests).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = find('packages', []).filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Most test files start an embedded database: one migrated template, made here once, saves each of
// them initdb and every migration (packages/server/test/pglite-template.ts). Without it they start
// from scratch, slower but the same.
const template = spawnSync(
  process.execPath,
  ['--conditions=mooring-source', '--import', 'tsx', 'packages/server/test/pglite-template.ts'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
const templateDir = template.status === 0 ? template.stdout.trim() : '';
if (!templateDir)
  console.error('test: no embedded database template; every test database starts from scratch');

const result = spawnSync(
  process.execPath,
  [
    '--conditions=mooring-source',
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    // No test may hold the run for ever: one that hangs fails after five minutes and the rest go on.
    '--test-timeout=300000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${fileURLToPath(new URL('./file-times-reporter.mjs', import.meta.url))}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      MOORING_LOG_LEVEL: process.env.MOORING_LOG_LEVEL ?? 'silent',
      // Every JSON answer is checked against its documented schema (adapters/http/openapi.ts).
      MOORING_CHECK_RESPONSES: process.env.MOORING_CHECK_RESPONSES ?? '1',
      ...(templateDir ? { MOORING_TEST_PGLITE_TEMPLATE: templateDir } : {}),
    },
  },
);
process.exit(result.status ?? 1);
