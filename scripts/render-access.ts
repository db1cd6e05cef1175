// Rewrites the permission and role tables in docs/access-control.md:
// `node --conditions=mooring-source --import tsx scripts/render-access.ts` (the condition: @mooring/protocol
// from its source, not from a build that may be older).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderAccessTables } from '../packages/server/src/domains/access/access.js';

const path = 'docs/access-control.md';
const doc = readFileSync(path, 'utf8');
const start = '<!-- access:start -->';
const end = '<!-- access:end -->';
const next =
  doc.slice(0, doc.indexOf(start) + start.length) +
  '\n' +
  renderAccessTables() +
  '\n' +
  doc.slice(doc.indexOf(end));
writeFileSync(path, next);
process.stdout.write(`updated ${path}\n`);
