/** Small numeric helpers shared by the orchestrator and the load generator. */

export interface Percentiles {
  samples: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** A growable list of latency samples in milliseconds. */
export class Samples {
  private data = new Float64Array(1024);
  private n = 0;

  add(v: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = v;
  }

  get count(): number {
    return this.n;
  }

  percentiles(): Percentiles {
    const sorted = this.data.slice(0, this.n).sort();
    // Nearest-rank: the smallest sample with at least q of all samples at or below it.
    const at = (q: number) =>
      this.n === 0 ? 0 : round(sorted[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)]!);
    return { samples: this.n, p50: at(0.5), p90: at(0.9), p95: at(0.95), p99: at(0.99), max: at(1) };
  }
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping the input order in the result. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
