/** Small helpers the command modules share. */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { makeContext, UsageError, type Ctx } from './context.js';

/**
 * Wraps a command's action: builds the context from the command's options (global ones included)
 * and hands the positional arguments and options on. Commander passes (...args, options, command).
 */
export function act<A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void> | void) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    await fn(makeContext(cmd), ...(args.slice(0, -1) as A));
  };
}

/** Parses `key=value` pairs and JSON values (`--param delay=5 --param mode='"fast"'`). */
export function keyValues(pairs: string[] | undefined): Record<string, unknown> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`expected key=value, got '${p}'`);
    const raw = p.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    out[p.slice(0, i)] = value;
  }
  return out;
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

let stdinLines: Promise<string[]> | undefined;

/** Stdin, read once, as lines: each secret a command asks for takes the next one. */
async function nextStdinLine(): Promise<string | undefined> {
  stdinLines ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split('\n');
  })();
  return (await stdinLines).shift();
}

/**
 * Reads a secret: from stdin when piped (one line per secret, in the order the command asks for
 * them), else a prompt that does not echo (TTY only).
 */
export async function readSecret(prompt: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const text = (await nextStdinLine())?.trim();
    if (!text) throw new UsageError(`${prompt}: nothing on stdin`);
    return text;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const mutable = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
  let muted = false;
  mutable._writeToOutput = (s: string) => {
    if (!muted) process.stderr.write(s);
  };
  return new Promise((resolve) => {
    rl.question(`${prompt}: `, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer.trim());
    });
    muted = true;
  });
}

/** Parses a duration like 30s, 15m, 2h, 7d into seconds. */
export function seconds(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`not a duration: '${text}' (use e.g. 90s, 15m, 2h, 7d)`);
  const n = Number(m[1]);
  return n * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const)[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

/** A time given as epoch ms, an RFC 3339 date-time, or a duration ago (`15m`). */
export function timeArg(text: string | undefined): string | undefined {
  if (!text) return undefined;
  if (/^\d+[smhd]$/.test(text)) return String(Date.now() - seconds(text) * 1000);
  return text;
}
