#!/usr/bin/env node
// Runs every *.test.ts under packages/ with node's test runner through tsx.
// Node 20's runner takes no glob, so the file list is built here.
// The tests run the TypeScript sources, never a build that may be older: NODE_OPTIONS carries the
// `mooring-source` export condition, so @mooring/* resolve to src/ in the test files and in every node
// process they start (`mooring serve`, `mooring demo`, the CLI), which then load tsx themselves.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=mooring-source`.trim(),
      MOORING_LOG_LEVEL: process.env.MOORING_LOG_LEVEL ?? 'silent',
      // Every JSON answer is checked against its documented schema (adapters/http/openapi.ts).
      MOORING_CHECK_RESPONSES: process.env.MOORING_CHECK_RESPONSES ?? '1',
    },
  },
);
process.exit(result.status ?? 1);
