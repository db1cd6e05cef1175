// Rewrites the error table in docs/errors.md from the catalogue: `node --import tsx scripts/render-errors.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
// The source, not the package: the package may resolve to a build older than the catalogue.
import { renderErrorTable } from '../packages/protocol/src/index.js';

const path = 'docs/errors.md';
const doc = readFileSync(path, 'utf8');
const start = '<!-- catalogue:start -->';
const end = '<!-- catalogue:end -->';
const next =
  doc.slice(0, doc.indexOf(start) + start.length) +
  '\n' +
  renderErrorTable() +
  '\n' +
  doc.slice(doc.indexOf(end));
writeFileSync(path, next);
process.stdout.write(`updated ${path}\n`);
