/**
 * A JSON object with one large array, answered as a stream: the array is serialized a slice at a time
 * with a turn of the event loop between slices. One `JSON.stringify` of a 10,000-unit manifest (about
 * 25 MB with its certificates) would stop every other request and MQTT client for its whole length.
 * The bytes are the same as `JSON.stringify(value)`'s.
 */
import { Readable } from 'node:stream';

export function jsonStream(value: object, arrayKey: string, slice = 100): Readable {
  async function* pieces(): AsyncGenerator<string> {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    yield '{';
    for (const [n, [key, v]] of entries.entries()) {
      const prefix = `${n > 0 ? ',' : ''}${JSON.stringify(key)}:`;
      if (key !== arrayKey || !Array.isArray(v)) {
        yield prefix + JSON.stringify(v);
        continue;
      }
      yield `${prefix}[`;
      for (let start = 0; start < v.length; start += slice) {
        if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const items = v.slice(start, start + slice).map((item: unknown) => JSON.stringify(item) ?? 'null');
        yield (start > 0 ? ',' : '') + items.join(',');
      }
      yield ']';
    }
    yield '}';
  }
  return Readable.from(pieces());
}
