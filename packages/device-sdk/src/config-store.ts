/**
 * Where a device keeps the desired configuration it applied (docs/config.md): its version and the
 * document. After a restart the device holds that version again, so the platform's push of the
 * difference from the acknowledged version applies to it; a device that kept nothing asks for the
 * whole document. `FileDesiredConfigStore` writes one JSON file atomically (owner-only);
 * `MemoryDesiredConfigStore` (the default) forgets everything with the process.
 */
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isPlainObject, type ConfigDocument } from '@mooring/protocol';

export interface DesiredConfigState {
  /** The desired version applied (0: none). */
  version: number;
  /** The desired document at that version. */
  desired: ConfigDocument;
}

export interface DesiredConfigStore {
  /** The state saved last; undefined when there is none. */
  load(): Promise<DesiredConfigState | undefined>;
  /** Saves the state: called after the handler applied a version, before it is acknowledged. */
  save(state: DesiredConfigState): Promise<void>;
}

/** Checks what a store gave back: a state that is not one is treated as none (the device resyncs). */
export function usableState(value: unknown): DesiredConfigState | undefined {
  if (!isPlainObject(value)) return undefined;
  const { version, desired } = value;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return undefined;
  if (!isPlainObject(desired)) return undefined;
  return { version, desired };
}

export class MemoryDesiredConfigStore implements DesiredConfigStore {
  private value: DesiredConfigState | undefined;
  constructor(initial?: DesiredConfigState) {
    this.value = initial && structuredClone(initial);
  }
  async load() {
    return this.value && structuredClone(this.value);
  }
  async save(state: DesiredConfigState) {
    this.value = structuredClone(state);
  }
}

/** One JSON file, mode 0600 in a 0700 directory, replaced whole (written, synced, renamed) each save. */
export class FileDesiredConfigStore implements DesiredConfigStore {
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  async load(): Promise<DesiredConfigState | undefined> {
    try {
      return usableState(JSON.parse(await readFile(this.path, 'utf8')));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return undefined;
      throw e;
    }
  }

  save(state: DesiredConfigState): Promise<void> {
    const text = JSON.stringify({ version: state.version, desired: state.desired });
    const next = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o600);
      await rename(tmp, this.path);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
