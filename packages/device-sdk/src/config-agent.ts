/**
 * The device side of the configuration twin (docs/config.md): takes the platform's pushes on
 * `d/{id}/config/desired` one at a time in arrival order, decides with the protocol's `desiredAction`,
 * applies a patch by handing the new desired document to the firmware's handler, saves the state and
 * acknowledges the version on `d/{id}/config/reported` with what the handler reports. A handler that
 * throws leaves the state and the acknowledgement where they were: the platform pushes the same
 * change again at the next connect (or with the next change). A patch that starts below the version
 * held means the platform missed the acknowledgement of it: the device sends it again. At each connect a device that holds
 * nothing asks for the whole document, and one whose last acknowledgement may not have arrived (a
 * restart, a connection lost before the PUBACK) sends it again.
 */
import type { MqttClient } from 'mqtt';
import {
  applyMergePatch,
  checkSchema,
  desiredAction,
  DesiredConfigMessageSchema,
  isPlainObject,
  topics,
  type ConfigDocument,
  type DesiredConfigMessage,
  type ReportedConfigMessage,
} from '@mooring/protocol';
import { MemoryDesiredConfigStore, usableState, type DesiredConfigStore } from './config-store.js';

/** What the handler is told besides the new document. */
export interface DesiredConfigChange {
  /** The desired version the document is at. */
  version: number;
  /** The version the patch applied to (0: the patch is the whole document). */
  baseVersion: number;
  /** The merge patch the platform sent. */
  patch: ConfigDocument;
  /** The desired document the device held before. */
  previous: ConfigDocument;
}

/**
 * Applies a desired document. Its return value, when an object, is a merge patch of the reported
 * configuration sent with the acknowledgement; a throw (or rejection) means "not applied".
 */
export type DesiredConfigHandler = (
  desired: ConfigDocument,
  change: DesiredConfigChange,
) => Promise<ConfigDocument | void> | ConfigDocument | void;

/** The `config` option of `MooringDevice`. */
export interface DeviceConfigOptions {
  onDesired: DesiredConfigHandler;
  /**
   * Where the applied version and document are kept across restarts (default: in memory, so a
   * restarted device asks for the whole document). `FileDesiredConfigStore` keeps them in a file.
   */
  store?: DesiredConfigStore;
}

/** The desired configuration a device applied. */
export interface DesiredConfig {
  version: number;
  document: ConfigDocument;
}

export interface ConfigLink {
  deviceId(): string;
  /** The MQTT client while connected. */
  client(): MqttClient | undefined;
  /** Resolves when connected, or after `ms`. */
  connected(ms: number): Promise<void>;
  /** A version was applied, saved and handed to the acknowledgement. */
  applied(config: DesiredConfig): void;
  fail(error: Error): void;
}

/** A QoS 1 publish that resolves at its PUBACK and rejects when the connection closes first. */
function publish(client: MqttClient, topic: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('connection closed before the PUBACK'));
    client.once('close', closed);
    client.publish(topic, body, { qos: 1 }, (err) => {
      client.off('close', closed);
      if (err) reject(err);
      else resolve();
    });
  });
}

export class ConfigAgent {
  private readonly store: DesiredConfigStore;
  private state: DesiredConfig = { version: 0, document: {} };
  /** The version the platform confirmed (by PUBACK) this process acknowledged; -1: none yet. */
  private acked = -1;
  /** The acknowledgement of the version held, while it has not been confirmed. */
  private unsent: ReportedConfigMessage | undefined;
  private loaded: Promise<void> | undefined;
  private inbox: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly options: DeviceConfigOptions,
    private readonly link: ConfigLink,
  ) {
    this.store = options.store ?? new MemoryDesiredConfigStore();
  }

  /** The version and document applied last (a copy). */
  get current(): DesiredConfig {
    return structuredClone(this.state);
  }

  /** Loads the saved state once. */
  load(): Promise<void> {
    this.loaded ??= (async () => {
      const saved = usableState(await this.store.load());
      if (saved) this.state = { version: saved.version, document: saved.desired };
    })();
    return this.loaded;
  }

  /** Lets the message being handled finish; nothing after it is handled. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.inbox;
  }

  /** After every connect (the subscription is up): ask for the whole document, or acknowledge again. */
  connected(): void {
    this.enqueue(async () => {
      if (this.state.version === 0) await this.send(topics.configGet(this.link.deviceId()), {}, 'request');
      else if (this.unsent) await this.acknowledge(this.unsent);
      else if (this.acked !== this.state.version)
        await this.acknowledge({ desiredVersion: this.state.version });
    });
  }

  /** A message of `d/{id}/config/desired`, queued behind the ones before it. */
  handle(payload: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      this.link.fail(new Error('desired configuration message refused: not JSON'));
      return;
    }
    const checked = checkSchema(DesiredConfigMessageSchema, body);
    if (!checked.ok) {
      this.link.fail(
        new Error(`desired configuration message refused: ${checked.message} (${checked.path})`),
      );
      return;
    }
    this.enqueue(() => this.onDesired(checked.value));
  }

  /**
   * Changes the reported configuration alone (a merge patch): resolves at the platform's PUBACK,
   * waiting for the connection when it is down; rejects when the device stops first.
   */
  async report(patch: ConfigDocument): Promise<void> {
    if (!isPlainObject(patch)) throw new TypeError('reportConfig: the patch must be a JSON object');
    const body = JSON.stringify({ patch });
    for (;;) {
      if (this.stopped) throw new Error('reportConfig: the device stopped before the report was sent');
      const client = this.link.client();
      if (client) {
        try {
          return await publish(client, topics.configReported(this.link.deviceId()), body);
        } catch (e) {
          if (this.link.client() === client) throw e;
          continue; // the connection dropped under it: once more on the next one
        }
      }
      await this.link.connected(5_000);
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.inbox = this.inbox
      .then(async () => {
        await this.load();
        if (!this.stopped) await task();
      })
      .catch((e: unknown) => this.link.fail(e as Error));
  }

  private async onDesired(message: DesiredConfigMessage): Promise<void> {
    const action = desiredAction(this.state.version, message);
    if (action === 'ignore') return;
    if (action === 'acknowledge') {
      // The patch starts below the version held: the platform has not recorded its acknowledgement.
      await this.acknowledge(this.unsent ?? { desiredVersion: this.state.version });
      return;
    }
    if (action === 'resync') {
      await this.send(topics.configGet(this.link.deviceId()), {}, 'request');
      return;
    }
    const previous = message.baseVersion === 0 ? {} : this.state.document;
    const document = applyMergePatch(previous, message.patch) as ConfigDocument;
    let reported: ConfigDocument | void;
    try {
      reported = await this.options.onDesired(structuredClone(document), {
        version: message.version,
        baseVersion: message.baseVersion,
        patch: structuredClone(message.patch),
        previous: structuredClone(this.state.document),
      });
    } catch (e) {
      this.link.fail(
        new Error(`desired configuration version ${message.version} not applied: ${(e as Error).message}`, {
          cause: e,
        }),
      );
      return;
    }
    await this.store.save({ version: message.version, desired: document });
    this.state = { version: message.version, document };
    this.link.applied(this.current);
    await this.acknowledge({
      desiredVersion: message.version,
      ...(isPlainObject(reported) ? { patch: reported } : {}),
    });
  }

  private async acknowledge(report: ReportedConfigMessage): Promise<void> {
    this.unsent = report;
    if (!(await this.send(topics.configReported(this.link.deviceId()), report, 'acknowledgement'))) return;
    if (this.unsent === report) this.unsent = undefined;
    this.acked = Math.max(this.acked, report.desiredVersion ?? 0);
  }

  /** Publishes now when connected; false when it could not (the next connect sends it again). */
  private async send(topic: string, body: object, what: string): Promise<boolean> {
    const client = this.link.client();
    if (!client) return false;
    try {
      await publish(client, topic, JSON.stringify(body));
      return true;
    } catch (e) {
      this.link.fail(new Error(`configuration ${what} not sent: ${(e as Error).message}`));
      return false;
    }
  }
}
