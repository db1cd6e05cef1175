/**
 * Reconnect delays: exponential backoff with full jitter (a random delay between 0 and
 * min(cap, base × 2^attempt)), so that a fleet that lost the server together does not come back
 * together. A hint from the server (`retryAfterMs`) is a floor.
 */
export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1_000;
    this.capMs = opts.capMs ?? 60_000;
    this.random = opts.random ?? Math.random;
  }

  /** The next delay in ms; `hintMs` (from the server) is honoured as a minimum. */
  next(hintMs?: number): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const jittered = Math.floor(this.random() * ceiling);
    return hintMs !== undefined ? Math.max(hintMs, jittered) : jittered;
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });

/** `promise`, or a rejection after `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
