// A test reporter that prints, once the run ends, the test files that took longest: the sum of each
// file's top-level tests (a file's tests run one after another). Keeping the whole run within CI's
// time starts from this list.
import { relative } from 'node:path';

export default async function* fileTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { file, nesting, details } = event.data;
    if (nesting !== 0 || !file) continue;
    byFile.set(file, (byFile.get(file) ?? 0) + (details?.duration_ms ?? 0));
  }
  if (byFile.size < 2) return;
  yield '\nslowest test files (seconds, the sum of their top-level tests):\n';
  for (const [file, ms] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15))
    yield `  ${(ms / 1000).toFixed(1).padStart(7)}  ${relative(process.cwd(), file)}\n`;
}
