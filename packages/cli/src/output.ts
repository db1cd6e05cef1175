/**
 * What the CLI prints: with `--json` exactly one JSON document on stdout (for scripts); otherwise
 * readable tables and lines. Progress and hints go to stderr so that stdout stays parseable.
 */
export interface Output {
  json: boolean;
  /** The command's result: a JSON document, or a table/fields for people. */
  result(value: unknown, human?: () => void): void;
  table(rows: Record<string, unknown>[], columns: string[]): void;
  fields(obj: Record<string, unknown>, keys?: string[]): void;
  line(text: string): void;
  note(text: string): void;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && v > 1_000_000_000_000 && v < 10_000_000_000_000)
    return new Date(v).toISOString();
  if (Array.isArray(v)) return v.map(cell).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Where output goes: stdout and stderr, or a buffer (`deployments watch` renders into one). */
export interface Sink {
  write(text: string): unknown;
}

export function createOutput(json: boolean, out: Sink = process.stdout, err: Sink = process.stderr): Output {
  const o: Output = {
    json,
    result(value, human) {
      if (json || !human) out.write(JSON.stringify(value ?? null, null, json ? 2 : 2) + '\n');
      else human();
    },
    table(rows, columns) {
      if (rows.length === 0) {
        err.write('(none)\n');
        return;
      }
      const cells = rows.map((r) => columns.map((c) => cell(r[c])));
      const widths = columns.map((c, i) =>
        Math.min(60, Math.max(c.length, ...cells.map((row) => row[i]!.length))),
      );
      const fmt = (row: string[]) =>
        row
          .map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd();
      out.write(fmt(columns.map((c) => c.toUpperCase())) + '\n');
      for (const row of cells) out.write(fmt(row) + '\n');
    },
    fields(obj, keys) {
      const ks = keys ?? Object.keys(obj);
      const width = Math.max(...ks.map((k) => k.length));
      for (const k of ks) if (obj[k] !== undefined) out.write(`${k.padEnd(width)}  ${cell(obj[k])}\n`);
    },
    line(text) {
      out.write(text + '\n');
    },
    note(text) {
      err.write(text + '\n');
    },
  };
  return o;
}
