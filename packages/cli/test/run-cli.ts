/**
 * The `mooring` command run as its own process, as a user runs it: the CLI tests' one runner. The
 * result holds the exit code, both outputs, and stdout parsed when it is one JSON document.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/mooring.mjs', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export interface CliOptions {
  /** MOORING_CONFIG_DIR: where profiles are kept (a test's own folder). */
  configDir: string;
  /** Written to stdin, which is then closed (nothing by default). */
  stdin?: string;
  env?: Record<string, string>;
}

/** The options that point the CLI at a server with a CA file and a bearer token. */
export const serverArgs = (port: number, caFile: string, token: string): string[] => [
  '--server',
  `https://localhost:${port}`,
  '--ca',
  caFile,
  '--token',
  token,
];

/** Starts `mooring ...args`: its result when it exits, and what it printed so far on stdout. */
export function startCli(args: string[], opts: CliOptions): { done: Promise<Run>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, MOORING_CONFIG_DIR: opts.configDir, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        /* not one JSON document */
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
  child.stdin.end(opts.stdin ?? '');
  return { done, stdout: () => stdout };
}

export const runCli = (args: string[], opts: CliOptions): Promise<Run> => startCli(args, opts).done;
