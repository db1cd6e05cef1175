import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE, ERROR_CODES, renderErrorTable } from './errors.js';

const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

test('docs/errors.md carries exactly the catalogue', () => {
  const doc = readFileSync(docPath, 'utf8');
  const inDoc = doc.slice(doc.indexOf('<!-- catalogue:start -->'), doc.indexOf('<!-- catalogue:end -->'));
  assert.ok(
    inDoc.includes(renderErrorTable()),
    'docs/errors.md is out of date: run node --import tsx scripts/render-errors.ts',
  );
  const documented = [...inDoc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, ERROR_CODES);
});

test('every code maps to an HTTP error status', () => {
  for (const code of ERROR_CODES) {
    const { status } = ERROR_CATALOGUE[code];
    assert.ok(status >= 400 && status < 600, `${code} has status ${status}`);
  }
});
