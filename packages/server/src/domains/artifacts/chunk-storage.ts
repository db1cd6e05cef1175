/**
 * The default `ArtifactStorage`: an image as 256 KiB chunks in `artifact_chunks`, so that every node
 * of a deployment serves it. The upload is written a few chunks per transaction: the embedded store
 * runs on the event loop, and a large image must never hold it for the whole upload. What a failed
 * upload wrote is deleted before the failure is passed on; the artifact row that makes an image
 * visible is written by the service only after `write` has returned.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Db } from '../../store/db.js';
import type { ArtifactStorage } from './artifacts.js';

export const CHUNK_BYTES = 256 * 1024;
/** Chunks written per transaction: at most 1 MiB per turn of the store. */
const CHUNKS_PER_TRANSACTION = 4;

/** Bytes of chunks kept in memory for reads: a rollout has every device read the same few chunks. */
export const CHUNK_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * The chunks read last, up to a byte budget, oldest out first; a read that misses while another read
 * of the same chunk is under way waits for that one. Chunks never change once their artifact exists,
 * so an entry is only ever dropped, never stale; a removal drops the artifact's entries on this node
 * (another node's reads are refused first by the artifact check of the download).
 */
function chunkCache(budget: number) {
  const entries = new Map<string, Promise<Buffer | undefined>>();
  const sizes = new Map<string, number>();
  let bytes = 0;
  const drop = (key: string) => {
    bytes -= sizes.get(key) ?? 0;
    sizes.delete(key);
    entries.delete(key);
  };
  return {
    get(id: string, seq: number, load: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
      const key = `${id}:${seq}`;
      const hit = entries.get(key);
      if (hit) {
        // Most recently used last.
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const loading = load().then(
        (data) => {
          // Removed while it loaded: not kept.
          if (entries.get(key) !== loading) return data;
          if (!data) {
            drop(key);
            return data;
          }
          sizes.set(key, data.length);
          bytes += data.length;
          for (const oldest of entries.keys()) {
            if (bytes <= budget) break;
            drop(oldest);
          }
          return data;
        },
        (err: unknown) => {
          if (entries.get(key) === loading) drop(key);
          throw err;
        },
      );
      entries.set(key, loading);
      return loading;
    },
    removeArtifact(id: string) {
      for (const key of [...entries.keys()]) if (key.startsWith(`${id}:`)) drop(key);
    },
  };
}

export function chunkStorage(
  db: Db,
  now: () => number = Date.now,
  cacheBytes = CHUNK_CACHE_BYTES,
): ArtifactStorage {
  const cache = chunkCache(cacheBytes);
  async function remove(id: string): Promise<void> {
    cache.removeArtifact(id);
    await db.query('DELETE FROM artifact_chunks WHERE artifact_id = $1', [id]);
    cache.removeArtifact(id);
  }

  /**
   * One chunk, as hex text decoded by Buffer: the embedded store's own bytea parser walks the hex
   * text in JavaScript, about 30 ms of CPU per 256 KiB chunk against about 2 ms this way (measured
   * with the OTA phase of the benchmark, docs/benchmarks.md).
   */
  async function loadChunk(id: string, seq: number): Promise<Buffer | undefined> {
    const [row] = await db.query<{ data: string }>(
      "SELECT encode(data, 'hex') AS data FROM artifact_chunks WHERE artifact_id = $1 AND seq = $2",
      [id, seq],
    );
    return row ? Buffer.from(row.data, 'hex') : undefined;
  }

  async function flush(id: string, first: number, chunks: Buffer[]): Promise<void> {
    await db.transaction(async (tx) => {
      for (let i = 0; i < chunks.length; i++)
        await tx.query(
          'INSERT INTO artifact_chunks (artifact_id, seq, data, written_at) VALUES ($1, $2, $3, $4)',
          [id, first + i, chunks[i], now()],
        );
    });
  }

  return {
    async write(id, body, maxBytes) {
      const hash = createHash('sha256');
      let size = 0;
      let seq = 0;
      let parts: Buffer[] = [];
      let partBytes = 0;
      let ready: Buffer[] = [];
      try {
        for await (const piece of body) {
          size += piece.length;
          if (size > maxBytes)
            throw new AppError('PAYLOAD_TOO_LARGE', `an artifact is at most ${maxBytes} bytes`, {
              details: { limit: maxBytes },
            });
          hash.update(piece);
          parts.push(piece);
          partBytes += piece.length;
          while (partBytes >= CHUNK_BYTES) {
            const all = Buffer.concat(parts);
            ready.push(all.subarray(0, CHUNK_BYTES));
            parts = [all.subarray(CHUNK_BYTES)];
            partBytes = all.length - CHUNK_BYTES;
          }
          if (ready.length >= CHUNKS_PER_TRANSACTION) {
            await flush(id, seq, ready);
            seq += ready.length;
            ready = [];
          }
        }
        if (partBytes > 0) ready.push(Buffer.concat(parts));
        if (ready.length > 0) await flush(id, seq, ready);
        return { size, sha256: hash.digest('hex') };
      } catch (e) {
        await remove(id);
        throw e;
      }
    },

    async *read(id, start, end) {
      for (let seq = Math.floor(start / CHUNK_BYTES); seq <= Math.floor(end / CHUNK_BYTES); seq++) {
        // Every device of a rollout reads every chunk: from memory after the first.
        const data = await cache.get(id, seq, () => loadChunk(id, seq));
        if (!data) throw new AppError('ARTIFACT_NOT_FOUND', 'the artifact was deleted while being read');
        const base = seq * CHUNK_BYTES;
        yield data.subarray(Math.max(0, start - base), Math.min(data.length, end - base + 1));
      }
    },

    remove,

    async removeAbandoned(olderThanMs) {
      // An upload in progress writes a chunk at least every few seconds, and its artifact row appears
      // only once the image is complete: chunks with no row whose newest is this old were left by a
      // server that stopped or died during the upload.
      const rows = await db.query<{ artifact_id: string }>(
        `DELETE FROM artifact_chunks c
          WHERE NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.id = c.artifact_id)
            AND c.artifact_id IN (
              SELECT artifact_id FROM artifact_chunks GROUP BY artifact_id HAVING max(written_at) < $1)
          RETURNING artifact_id`,
        [now() - olderThanMs],
      );
      return new Set(rows.map((r) => r.artifact_id)).size;
    },
  };
}
