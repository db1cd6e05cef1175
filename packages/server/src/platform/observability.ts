/** Structured logs (pino) and Prometheus metrics, one registry per platform instance. */
import { pino, type DestinationStream, type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LogLevel } from '../config.js';

export type { Logger };

/** Secrets never reach a log line: these fields are censored wherever they appear. */
const REDACT = [
  'password',
  'secret',
  'token',
  'req.headers.authorization',
  'headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
  'req.headers["x-csrf-token"]',
  'headers["x-csrf-token"]',
  '*.password',
  '*.secret',
  '*.token',
];

/** The process's logger; `destination` (default stdout) is for tests that read what was logged. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'mooring' } };
  return destination ? pino(options, destination) : pino(options);
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    mqttConnections: new Gauge({
      name: 'mooring_mqtt_connections',
      help: 'Live authenticated MQTT device sessions',
      registers: [registry],
    }),
    messagesIn: new Counter({
      name: 'mooring_messages_in_total',
      help: 'Device messages accepted, by transport and kind',
      labelNames: ['transport', 'kind'] as const,
      registers: [registry],
    }),
    messagesOut: new Counter({
      name: 'mooring_messages_out_total',
      help: 'Messages sent to devices, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    refused: new Counter({
      name: 'mooring_refused_total',
      help: 'Refused authentications, publishes and subscriptions, by reason',
      labelNames: ['transport', 'reason'] as const,
      registers: [registry],
    }),
    batchRows: new Histogram({
      name: 'mooring_telemetry_batch_rows',
      help: 'Rows written per telemetry group commit',
      buckets: [1, 10, 50, 100, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'mooring_telemetry_commit_seconds',
      help: 'Time to commit one telemetry batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'mooring_http_requests_total',
      help: 'HTTP requests by route and status class',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
