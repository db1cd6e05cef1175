/**
 * Test harness: a real platform on ephemeral ports with its own data directory, an HTTPS client that
 * trusts the platform CA, and helpers that bootstrap a tenant, an API key and devices over REST.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig, startPlatform, type Platform, type StartOptions } from '../src/index.js';
import { seedDataDir } from './pglite-template.js';

export interface HttpResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** A client certificate (mutual TLS) to present. */
  clientCert?: { key: string; cert: string };
}

export function httpsCall<T = any>(
  port: number,
  ca: string,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<HttpResponse<T>> {
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
    headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method,
        path,
        ca,
        headers,
        ...(opts.clientCert ?? {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON: leave the text */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as T, text });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface TestPlatform {
  platform: Platform;
  dataDir: string;
  call<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResponse<T>>;
  adminToken(): Promise<string>;
  /** A new tenant with an API key. */
  tenant(name?: string): Promise<{ tenantId: string; apiKey: string }>;
  /** A new device in the tenant with one access key. */
  device(
    apiKey: string,
    body?: Record<string, unknown>,
  ): Promise<{ deviceId: string; accessKey: string; accessKeyId: string }>;
  /** An MQTT-over-TLS client that has finished CONNACK (or rejects with the refusal). */
  connectDevice(deviceId: string, accessKey: string, extra?: Partial<IClientOptions>): Promise<MqttClient>;
  stop(): Promise<void>;
}

let counter = 0;

/** The password the tests give the bootstrap administrator in place of the file's one-time one. */
export const ADMIN_TEST_PASSWORD = 'tidal harbour keeper 7';

/**
 * Logs in as the bootstrap administrator: the file's password works once and its session may only
 * change it, so the first call changes it to ADMIN_TEST_PASSWORD (the server then removes the file);
 * every call logs in with that.
 */
export async function bootstrapAdminToken(
  post: (path: string, body: unknown, token?: string) => Promise<{ status: number; body: any }>,
  dataDir: string,
): Promise<string> {
  const file = join(dataDir, 'bootstrap-admin.json');
  if (existsSync(file)) {
    const cred = JSON.parse(readFileSync(file, 'utf8')) as { username: string; password: string };
    const first = await post('/v1/auth/login', cred);
    if (first.status !== 200) throw new Error(`bootstrap admin login failed: ${JSON.stringify(first.body)}`);
    if (!first.body.passwordChangeRequired) return first.body.token as string;
    const changed = await post(
      '/v1/auth/password',
      { currentPassword: cred.password, newPassword: ADMIN_TEST_PASSWORD },
      first.body.token,
    );
    if (changed.status !== 204)
      throw new Error(`admin password change failed: ${JSON.stringify(changed.body)}`);
  }
  const r = await post('/v1/auth/login', { username: 'admin', password: ADMIN_TEST_PASSWORD });
  if (r.status !== 200) throw new Error(`admin login failed: ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}

/** A configuration for an in-process platform on 127.0.0.1 and ephemeral ports, in `dataDir`. */
export function testConfig(dataDir: string, env: Record<string, string> = {}) {
  return loadConfig({
    MOORING_DATA_DIR: dataDir,
    MOORING_HTTP_HOST: '127.0.0.1',
    MOORING_HTTP_PORT: '0',
    MOORING_MQTT_HOST: '127.0.0.1',
    MOORING_MQTT_PORT: '0',
    MOORING_MQTT_MTLS_PORT: '0',
    MOORING_LOG_LEVEL: process.env.MOORING_LOG_LEVEL ?? 'silent',
    ...env,
  });
}

export async function startTestPlatform(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<TestPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-test-'));
  seedDataDir(dataDir);
  const platform = await startPlatform(testConfig(dataDir, env), options);
  const call = <T = any>(method: string, path: string, opts?: RequestOptions) =>
    httpsCall<T>(platform.httpPort, platform.caCert, method, path, opts);
  let adminToken: string | undefined;
  const t: TestPlatform = {
    platform,
    dataDir,
    call,
    async adminToken() {
      adminToken ??= await bootstrapAdminToken(
        (path, body, token) => call('POST', path, { body, ...(token ? { token } : {}) }),
        dataDir,
      );
      return adminToken;
    },
    async tenant(name = `tenant-${process.pid}-${++counter}`) {
      const token = await t.adminToken();
      const tenant = await call('POST', '/v1/tenants', { token, body: { name } });
      if (tenant.status !== 201) throw new Error(`tenant create failed: ${tenant.text}`);
      const key = await call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, {
        token,
        body: { name: 'test' },
      });
      if (key.status !== 201) throw new Error(`api key create failed: ${key.text}`);
      return { tenantId: tenant.body.id as string, apiKey: key.body.secret as string };
    },
    async device(apiKey, body = { name: `device-${++counter}` }) {
      const d = await call('POST', '/v1/devices', { token: apiKey, body });
      if (d.status !== 201) throw new Error(`device create failed: ${d.text}`);
      const k = await call('POST', `/v1/devices/${d.body.id}/access-keys`, { token: apiKey });
      if (k.status !== 201) throw new Error(`access key create failed: ${k.text}`);
      return {
        deviceId: d.body.id as string,
        accessKey: k.body.secret as string,
        accessKeyId: k.body.accessKey.id as string,
      };
    },
    connectDevice(deviceId, accessKey, extra = {}) {
      return connectMqtt(platform.mqttPort, platform.caCert, {
        clientId: deviceId,
        username: deviceId,
        password: accessKey,
        ...extra,
      });
    },
    async stop() {
      await platform.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Connects over MQTT/TLS with no automatic reconnect; rejects with the CONNACK refusal if any. */
export function connectMqtt(port: number, ca: string, opts: Partial<IClientOptions>): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      ca,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...opts,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Waits until `check` returns a truthy value, polling; fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the next message on a topic matching `filter` (exact or prefix match). */
export function nextMessage(
  client: MqttClient,
  predicate: (topic: string) => boolean,
  timeoutMs = 5_000,
): Promise<{ topic: string; payload: any }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error('no message arrived'));
    }, timeoutMs);
    const onMessage = (topic: string, payload: Buffer) => {
      if (!predicate(topic)) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      let body: unknown = payload.toString();
      try {
        body = JSON.parse(payload.toString());
      } catch {
        /* leave as text */
      }
      resolve({ topic, payload: body });
    };
    client.on('message', onMessage);
  });
}

/** Resolves when the client's connection closes (e.g. the server dropped it). */
export function closed(client: MqttClient, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('connection was not closed')), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  httpPort: number;
  mqttPort: number;
  /** The development plain-MQTT port, when `--dev-insecure-mqtt` is on. */
  insecurePort: number | null;
  ca: string;
  call<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResponse<T>>;
  /** Everything the process wrote to stdout and stderr so far (logs and banner). */
  output(): string;
}

/** Runs `mooring serve` as a child process on ephemeral ports and waits for its start banner. */
export async function startServerProcess(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const bin = new URL('../../cli/bin/mooring.mjs', import.meta.url).pathname;
  // An empty data directory starts from the migrated template (a test that restarts on its data keeps it).
  if (readdirSync(dataDir).length === 0) seedDataDir(dataDir);
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: {
      ...process.env,
      MOORING_DATA_DIR: dataDir,
      MOORING_HTTP_HOST: '127.0.0.1',
      MOORING_HTTP_PORT: '0',
      MOORING_MQTT_HOST: '127.0.0.1',
      MOORING_MQTT_PORT: '0',
      MOORING_MQTT_MTLS_PORT: '0',
      MOORING_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const ports = await new Promise<{ http: number; mqtt: number; insecure: number | null }>(
    (resolve, reject) => {
      // A start that does not finish in time is killed, so the test file cannot hang on it.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`server did not start in 60 s: ${err}`));
      }, 60_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const http = /REST API:\s+https:\/\/localhost:(\d+)/.exec(out);
        const mqttPort = /MQTT over TLS:\s+mqtts:\/\/localhost:(\d+)/.exec(out);
        const insecure = /DEV plain MQTT:\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (http && mqttPort && out.includes('Admin login')) {
          clearTimeout(timer);
          resolve({
            http: Number(http[1]),
            mqtt: Number(mqttPort[1]),
            insecure: insecure ? Number(insecure[1]) : null,
          });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}: ${err}`));
      });
    },
  );
  const ca = readFileSync(join(dataDir, 'pki', 'ca.pem'), 'utf8');
  return {
    child,
    httpPort: ports.http,
    mqttPort: ports.mqtt,
    insecurePort: ports.insecure,
    ca,
    call: (method, path, opts) => httpsCall(ports.http, ca, method, path, opts),
    output: () => out + err,
  };
}
