/**
 * What the OTA agent keeps across restarts, in `<dir>/ota-state.json` (written atomically and synced): the
 * anti-rollback floor, the update being installed (so that the next start after the reboot can
 * confirm it), the last reports of finished operations (sent again when the platform redelivers an
 * offer whose answer it missed), and the update keys last fetched.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { OtaReport, OtaReportState } from '@mooring/protocol';
import type { OtaUpdateKey } from './ota-verify.js';

/** An update past the point of no return: installing, or installed and waiting for the reboot. */
export interface OtaPending {
  operationId: string;
  deploymentId: string;
  attempt: number;
  artifactId: string;
  /** The version the device runs once the update took. */
  version: string;
  sequence: number;
  /** The version it ran before. */
  fromVersion: string;
  phase: 'installing' | 'rebooting' | 'rolling_back';
}

export interface OtaFinished {
  operationId: string;
  attempt: number;
  report: OtaReport;
}

export interface OtaPersisted {
  /** The sequence of the image installed last (0: none known). */
  installedSequence: number;
  pending?: OtaPending;
  /** The furthest step reported of the operation under way (before installing). */
  active?: { operationId: string; attempt: number; artifactId: string; state: OtaReportState };
  finished: OtaFinished[];
  keys?: { fetchedAt: number; items: OtaUpdateKey[] };
}

const MAX_FINISHED = 32;

export class OtaStateFile {
  readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {
    this.path = join(dir, 'ota-state.json');
  }

  async load(initialSequence: number): Promise<OtaPersisted> {
    await mkdir(this.dir, { recursive: true });
    let raw: Partial<OtaPersisted> = {};
    try {
      raw = JSON.parse(await readFile(this.path, 'utf8')) as Partial<OtaPersisted>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e;
    }
    return {
      installedSequence: Math.max(initialSequence, Number(raw.installedSequence) || 0),
      finished: Array.isArray(raw.finished) ? raw.finished.slice(-MAX_FINISHED) : [],
      ...(raw.pending ? { pending: raw.pending } : {}),
      ...(raw.active ? { active: raw.active } : {}),
      ...(raw.keys ? { keys: raw.keys } : {}),
    };
  }

  /** Resolves when every write begun so far is done. */
  flush(): Promise<void> {
    return this.writing;
  }

  /** Writes the state (one write at a time, each complete: a temporary file renamed over it). */
  save(state: OtaPersisted): Promise<void> {
    if (state.finished.length > MAX_FINISHED) state.finished.splice(0, state.finished.length - MAX_FINISHED);
    const text = JSON.stringify(state);
    const next = this.writing.then(async () => {
      const tmp = `${this.path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
