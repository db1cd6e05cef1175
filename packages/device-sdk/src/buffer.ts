/**
 * The offline buffer: readings wait here until the platform acknowledged them (PUBACK), so a
 * reading is delivered at least once across reconnects and outages. Bounded by a count of readings;
 * when full, the **oldest** readings are dropped (recent data is worth more to a fleet dashboard) and
 * counted. With a `path`, the buffer is kept on disk: loaded at start and written at most once a
 * second while it changes, and at close, so a crash loses at most the last second of readings.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Reading {
  ts?: number;
  values: Record<string, number | string | boolean>;
}

interface Entry {
  seq: number;
  reading: Reading;
}

export interface BufferOptions {
  maxReadings?: number;
  path?: string;
  /** Told how many readings were dropped because the buffer was full. */
  onDrop?: (count: number) => void;
}

export class OfflineBuffer {
  private entries: Entry[] = [];
  private nextSeq = 1;
  /** Readings with a seq up to this were handed to the connection and await their PUBACK. */
  private sentUpTo = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  readonly maxReadings: number;
  dropped = 0;

  constructor(private readonly opts: BufferOptions = {}) {
    this.maxReadings = opts.maxReadings ?? 100_000;
    if (opts.path && existsSync(opts.path)) {
      const saved = JSON.parse(readFileSync(opts.path, 'utf8')) as Reading[];
      for (const reading of saved.slice(-this.maxReadings))
        this.entries.push({ seq: this.nextSeq++, reading });
    }
  }

  get size(): number {
    return this.entries.length;
  }

  push(reading: Reading): void {
    this.entries.push({ seq: this.nextSeq++, reading });
    const over = this.entries.length - this.maxReadings;
    if (over > 0) {
      this.entries.splice(0, over);
      this.dropped += over;
      this.opts.onDrop?.(over);
    }
    this.changed();
  }

  /** The next readings to send (at most `max`), marked as sent; undefined when none wait. */
  take(max: number): { lastSeq: number; readings: Reading[] } | undefined {
    const start = this.entries.findIndex((e) => e.seq > this.sentUpTo);
    if (start < 0) return undefined;
    const batch = this.entries.slice(start, start + max);
    this.sentUpTo = batch[batch.length - 1]!.seq;
    return { lastSeq: this.sentUpTo, readings: batch.map((e) => e.reading) };
  }

  /** The platform acknowledged everything up to `seq`: forget it. */
  ack(seq: number): void {
    let n = 0;
    while (n < this.entries.length && this.entries[n]!.seq <= seq) n++;
    if (n > 0) {
      this.entries.splice(0, n);
      this.changed();
    }
  }

  /** The connection dropped: whatever was sent and not acknowledged is sent again. */
  rewind(): void {
    this.sentUpTo = this.entries.length > 0 ? this.entries[0]!.seq - 1 : this.nextSeq - 1;
  }

  private changed(): void {
    if (!this.opts.path) return;
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.persist();
    }, 1_000);
    this.timer.unref?.();
  }

  /** Writes the buffer to disk now (also at close). */
  persist(): void {
    if (!this.opts.path || !this.dirty) return;
    mkdirSync(dirname(this.opts.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.opts.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.entries.map((e) => e.reading)), { mode: 0o600 });
    // `mode` applies only when the file is created: a leftover temporary file keeps its own.
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.opts.path);
    this.dirty = false;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.persist();
  }
}
