/**
 * The OTA agent's transport for a `MooringDevice`: reports on `d/{id}/ota/{operationId}/progress` at
 * QoS 1 while connected (over `POST /v1/device/ota/{operationId}/progress` when the connection stays
 * down), the image and the update keys over the HTTPS device API with the device's credential.
 */
import type { MqttClient } from 'mqtt';
import { topics, type OtaReport } from '@mooring/protocol';
import { httpJson, httpRange, type HttpTarget } from './http.js';
import type { OtaTransport, OtaUpdateKey } from './ota.js';

export interface OtaLink {
  http: HttpTarget;
  deviceId(): string;
  /** The bearer for the device API: the access key or the registration token. */
  token(): string;
  /** The MQTT client while connected. */
  client(): MqttClient | undefined;
  /** Resolves when connected, or after `ms`. */
  connected(ms: number): Promise<void>;
}

/** How long a report waits for the connection before it goes over HTTPS. */
const WAIT_FOR_MQTT_MS = 10_000;

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

export function deviceOtaTransport(link: OtaLink): OtaTransport {
  return {
    async report(operationId: string, report: OtaReport): Promise<void> {
      if (!link.client()) await link.connected(WAIT_FOR_MQTT_MS);
      const client = link.client();
      const body = JSON.stringify(report);
      if (client) return publish(client, topics.otaProgress(link.deviceId(), operationId), body);
      await httpJson(link.http, 'POST', `/v1/device/ota/${encodeURIComponent(operationId)}/progress`, {
        token: link.token(),
        body: report,
      });
    },
    fetchRange: (path, start, signal) => httpRange(link.http, path, start, { token: link.token(), signal }),
    async fetchUpdateKeys(signal?: AbortSignal): Promise<OtaUpdateKey[]> {
      const r = await httpJson<{ items: OtaUpdateKey[] }>(link.http, 'GET', '/v1/device/update-keys', {
        token: link.token(),
        ...(signal ? { signal } : {}),
      });
      return r.items;
    },
  };
}
