/**
 * The twin under churn: simulated devices connect, apply what they are pushed, acknowledge, and drop
 * their connection at random, while an operator changes desired configuration every `writeEveryMs`.
 * Each device keeps its state across reconnects (as firmware keeps it in flash) and follows the
 * protocol's `desiredAction` rule. What it measures: whether every device ends on the final desired
 * document, whether any message ever carried a version at or below one the device had acknowledged,
 * and how long each reconnect took to bring the device up to the version current when it reconnected.
 */
import { applyMergePatch, desiredAction, topics, type DesiredConfigMessage } from '@mooring/protocol';
import type { MqttClient } from 'mqtt';

export interface ChurnDevice {
  deviceId: string;
  accessKey: string;
}

export interface ChurnOptions {
  devices: ChurnDevice[];
  cycles: number;
  writeEveryMs: number;
  connect(d: ChurnDevice): Promise<MqttClient>;
  /** Writes a desired patch; resolves with the new version. */
  writeDesired(deviceId: string, patch: Record<string, unknown>): Promise<number>;
  /** The current desired version and document of a device. */
  readDesired(deviceId: string): Promise<{ version: number; document: Record<string, unknown> }>;
  /** Seeded randomness in [0, 1). */
  random?: () => number;
}

export interface ChurnResult {
  cycles: number;
  writes: number;
  messages: number;
  resyncs: number;
  /** Messages whose version was at or below one the device had acknowledged (must be none). */
  staleDeltas: string[];
  /** Devices whose final document or version differs from the platform's (must be none). */
  diverged: string[];
  /** Per reconnect that found the device behind: ms from CONNACK to holding that version. */
  convergeMs: number[];
  /** Reconnects that found the device behind and ended before it caught up. */
  notConverged: number;
}

interface State {
  version: number;
  document: Record<string, unknown>;
  acked: number;
  /** Versions requested with config/get and not yet answered: a whole document may repeat one. */
  resyncing: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small deterministic generator (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runTwinChurn(o: ChurnOptions): Promise<ChurnResult> {
  const random = o.random ?? Math.random;
  const result: ChurnResult = {
    cycles: 0,
    writes: 0,
    messages: 0,
    resyncs: 0,
    staleDeltas: [],
    diverged: [],
    convergeMs: [],
    notConverged: 0,
  };
  const states = new Map<string, State>(
    o.devices.map((d) => [d.deviceId, { version: 0, document: {}, acked: 0, resyncing: false }]),
  );

  /** One connection's life: applies messages in order; resolves when the client is ended. */
  async function session(d: ChurnDevice, stayMs: number, track: boolean) {
    const s = states.get(d.deviceId)!;
    // The version current when this device comes back: it must reach at least this one.
    let target = (await o.readDesired(d.deviceId)).version;
    if (target <= s.version) target = 0;
    const client = await o.connect(d);
    const connectedAt = Date.now();
    let converged = false;
    const queue: DesiredConfigMessage[] = [];
    let draining = Promise.resolve();
    const settle = () => {
      if (!converged && target > 0 && s.version >= target) {
        converged = true;
        if (track) result.convergeMs.push(Date.now() - connectedAt);
      }
    };
    client.on('message', (topic, payload) => {
      if (topic !== topics.configDesired(d.deviceId)) return;
      const arrived = JSON.parse(payload.toString()) as DesiredConfigMessage;
      // Judged on arrival: an acknowledgement counts once its PUBACK came, and the platform writes
      // in order on the connection, so a message after that PUBACK was written after it.
      if (arrived.version <= s.acked && !(arrived.baseVersion === 0 && s.resyncing))
        result.staleDeltas.push(
          `${d.deviceId}: v${arrived.version} (base ${arrived.baseVersion}) after ack ${s.acked}`,
        );
      queue.push(arrived);
      draining = draining.then(async () => {
        const m = queue.shift()!;
        result.messages++;
        const action = desiredAction(s.version, m);
        if (action === 'resync') {
          s.resyncing = true;
          result.resyncs++;
          await client.publishAsync(topics.configGet(d.deviceId), '{}', { qos: 1 }).catch(() => undefined);
          return;
        }
        if (action === 'ignore') return;
        if (action === 'acknowledge') {
          client
            .publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: s.version }), {
              qos: 1,
            })
            .catch(() => undefined);
          return;
        }
        s.document = applyMergePatch(m.baseVersion === 0 ? {} : s.document, m.patch) as Record<
          string,
          unknown
        >;
        s.version = m.version;
        if (m.baseVersion === 0) s.resyncing = false;
        settle();
        // The acknowledgement counts from its PUBACK, set in the client's packet handling so that a
        // message read after that PUBACK sees it. A dropped connection leaves it to the next session.
        await new Promise<void>((resolve) =>
          client.publish(
            topics.configReported(d.deviceId),
            JSON.stringify({ desiredVersion: m.version }),
            { qos: 1 },
            (err) => {
              if (!err) s.acked = Math.max(s.acked, m.version);
              resolve();
            },
          ),
        );
      });
    });
    await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
    settle();
    await sleep(stayMs);
    client.end(true);
    await draining.catch(() => undefined);
    if (track && target > 0 && !converged) result.notConverged++;
  }

  // A write starts every `writeEveryMs` whatever the previous one's latency (at most 8 in flight).
  let writing = true;
  const writer = (async () => {
    let n = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (writing) {
      const d = o.devices[Math.floor(random() * o.devices.length)]!;
      const k = `k${Math.floor(random() * 6)}`;
      const patch = random() < 0.2 ? { [k]: null } : { [k]: { n: ++n, at: Date.now() } };
      const w = o.writeDesired(d.deviceId, patch).then(() => result.writes++);
      inFlight.add(w);
      void w.finally(() => inFlight.delete(w));
      if (inFlight.size >= 8) await Promise.race(inFlight);
      await sleep(o.writeEveryMs);
    }
    await Promise.all(inFlight);
  })();

  const perDevice = Math.ceil(o.cycles / o.devices.length);
  await Promise.all(
    o.devices.map(async (d) => {
      for (let i = 0; i < perDevice; i++) {
        await session(d, 20 + Math.floor(random() * 250), true);
        result.cycles++;
        await sleep(Math.floor(random() * 150));
      }
    }),
  );
  writing = false;
  await writer;

  // Writes have stopped: one last session each must end on the final document.
  await Promise.all(
    o.devices.map(async (d) => {
      const final = await o.readDesired(d.deviceId);
      const s = states.get(d.deviceId)!;
      const deadline = Date.now() + 10_000;
      let client: MqttClient | undefined;
      try {
        client = await o.connect(d);
        const seen = new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (s.version >= final.version || Date.now() > deadline) {
              clearInterval(check);
              resolve();
            }
          }, 20);
        });
        client.on('message', (topic, payload) => {
          if (topic !== topics.configDesired(d.deviceId)) return;
          const m = JSON.parse(payload.toString()) as DesiredConfigMessage;
          const action = desiredAction(s.version, m);
          const quiet = () => undefined;
          if (action === 'resync')
            client!.publishAsync(topics.configGet(d.deviceId), '{}', { qos: 1 }).catch(quiet);
          if (action === 'acknowledge')
            client!
              .publishAsync(
                topics.configReported(d.deviceId),
                JSON.stringify({ desiredVersion: s.version }),
                {
                  qos: 1,
                },
              )
              .catch(quiet);
          if (action !== 'apply') return;
          s.document = applyMergePatch(m.baseVersion === 0 ? {} : s.document, m.patch) as Record<
            string,
            unknown
          >;
          s.version = m.version;
          client!
            .publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: m.version }), {
              qos: 1,
            })
            .catch(quiet);
        });
        if (s.version < final.version) {
          await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
          await seen;
        }
      } finally {
        client?.end(true);
      }
      if (
        s.version !== final.version ||
        JSON.stringify(sorted(s.document)) !== JSON.stringify(sorted(final.document))
      )
        result.diverged.push(
          `${d.deviceId}: holds v${s.version} ${JSON.stringify(s.document)}, desired v${final.version} ${JSON.stringify(final.document)}`,
        );
    }),
  );
  return result;
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  return v;
}
