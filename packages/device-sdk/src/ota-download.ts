/**
 * The image download: into `<dir>/<artifactId>.part`, always resumed from the part file's size with
 * `Range: bytes=N-` (after a dropped connection, a stall, or a restart of the device), with
 * exponential backoff between failed tries. A server that answers 200 instead of 206 sends the whole
 * image again and the part file starts over.
 */
import { open, rm, stat } from 'node:fs/promises';
import { sleep, type Backoff } from './backoff.js';
import { DeviceApiError, type RangeResponse } from './http.js';

/** Fetches the image at `path` from byte `start` (the device API's ranged download). */
export type OtaRangeFetch = (path: string, start: number, signal: AbortSignal) => Promise<RangeResponse>;

export interface DownloadOptions {
  file: string;
  /** The part file's size now, when the caller has read it (else it is read here). */
  have?: number;
  /** The manifest's size: the download stops there (more is a wrong image, left to the size check). */
  size: number;
  path: string;
  fetchRange: OtaRangeFetch;
  signal: AbortSignal;
  backoff: Backoff;
  /** Failed tries in a row, without the part file growing past its largest size, before giving up. */
  maxRetries: number;
  /** Reports progress in percent: where the part file starts, then every `progressStep` (not 100). */
  progressStep: number;
  onProgress: (percent: number) => Promise<void>;
  onRetry?: (error: Error, delayMs: number) => void;
}

export async function partSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/**
 * Downloads until the part file holds `size` bytes, the server has nothing more (416), or the server
 * sent more than `size`. Throws when aborted, on a refusal that retrying cannot fix (a 4xx such as
 * `404 ARTIFACT_NOT_FOUND`), or after `maxRetries` failed tries in a row.
 */
export async function download(o: DownloadOptions): Promise<void> {
  const percent = (bytes: number) => (o.size === 0 ? 100 : Math.min(100, Math.floor((bytes * 100) / o.size)));
  let known: number | undefined = o.have ?? (await partSize(o.file));
  // The part file's largest size so far: only growth past it is progress that earns fresh retries
  // (a server that ignores Range and drops each time starts over from 0 and never gets past it).
  let best = known;
  let reported = percent(known);
  await o.onProgress(reported);
  const onBytes = (bytes: number) => {
    const p = percent(bytes);
    if (p >= 100 || Math.floor(p / o.progressStep) <= Math.floor(reported / o.progressStep)) return;
    reported = p;
    void o.onProgress(p);
  };
  let failures = 0;
  for (;;) {
    o.signal.throwIfAborted();
    let have = known ?? (await partSize(o.file));
    known = undefined;
    if (have > o.size) {
      await rm(o.file, { force: true });
      have = 0;
    }
    if (have === o.size) {
      if (o.size === 0) await (await open(o.file, 'a')).close();
      return;
    }
    try {
      const res = await o.fetchRange(o.path, have, o.signal);
      if (res.status === 416) return;
      const from = res.status === 200 ? 0 : res.start;
      if (from !== have && from !== 0) throw new Error(`the server resumed at byte ${from}, not ${have}`);
      have = from;
      const fh = await open(o.file, from === 0 ? 'w' : 'a');
      try {
        for await (const chunk of res.body) {
          await fh.write(chunk);
          have += chunk.length;
          if (have > best) {
            best = have;
            failures = 0;
            o.backoff.reset();
          }
          onBytes(have);
          if (have > o.size) break;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (have >= o.size) return;
      throw new Error(`the download ended at byte ${have} of ${o.size}`);
    } catch (e) {
      o.signal.throwIfAborted();
      const error = e as Error;
      if (error instanceof DeviceApiError && error.status >= 400 && !error.transient) throw error;
      if (++failures > o.maxRetries) throw error;
      const delayMs = o.backoff.next(error instanceof DeviceApiError ? error.retryAfterMs : undefined);
      o.onRetry?.(error, delayMs);
      await sleep(delayMs, o.signal);
    }
  }
}
