// @ts-check
/**
 * A gateway: provisions itself on first boot (showing the verification code on its "display"),
 * then forwards readings of the sensors behind it as telemetry and answers two commands. Plain
 * JavaScript, so that it runs with plain `node` wherever the package is installed:
 *
 *   MOORING_URL=https://localhost:8443 MOORING_CA=.mooring/pki/ca.pem MOORING_PT=mpt_… \
 *   MOORING_SERIAL=GW-0001 node node_modules/@mooring/device-sdk/examples/gateway.mjs
 *
 * (in this repository, after `npm run build`: `node packages/device-sdk/examples/gateway.mjs`).
 * The PT is a per-device provisioning token for that serial; approve with `mooring approve <code>`.
 * Credentials and the offline buffer live in ./gateway-state/, readable by this user only.
 */
import { readFileSync } from 'node:fs';
import { FileCredentialStore, MooringDevice, provision } from '@mooring/device-sdk';

/** @type {(name: string, fallback?: string) => string} */
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};

const url = new URL(env('MOORING_URL', 'https://localhost:8443'));
const http = { url: url.toString(), ca: readFileSync(env('MOORING_CA', '.mooring/pki/ca.pem'), 'utf8') };
const store = new FileCredentialStore('gateway-state/credentials.json');

if (!(await store.load())) {
  const credentials = await provision({
    http,
    provisioningToken: env('MOORING_PT'),
    serial: env('MOORING_SERIAL', 'GW-0001'),
    attributes: { model: 'example-gateway', fw: '1.0.0' },
    onVerificationCode: (code) => process.stderr.write(`\n  DISPLAY: verification code ${code}\n\n`),
  });
  await store.save(credentials);
  process.stderr.write(`provisioned as ${credentials.deviceId}\n`);
}

const device = new MooringDevice({
  store,
  http,
  mqttUrl: `mqtts://${url.hostname}:${env('MOORING_MQTT_PORT', '8883')}`,
  mqttMtlsUrl: `mqtts://${url.hostname}:${env('MOORING_MQTT_MTLS_PORT', '8884')}`,
  buffer: { path: 'gateway-state/buffer.json', maxReadings: 50_000 },
});
device.on('state', (s) => process.stderr.write(`connection: ${s}\n`));
device.on('dropped', (n) => process.stderr.write(`buffer full: dropped the ${n} oldest readings\n`));

let interval = 5_000;
device
  .handle('set-interval', (params) => {
    const ms = Number(/** @type {{ ms?: number } | null} */ (params)?.ms);
    if (!Number.isInteger(ms) || ms < 1_000) throw new Error('ms must be an integer ≥ 1000');
    interval = ms;
    return { interval };
  })
  .handle('sensors', () => ({ sensors: ['boiler', 'pump'] }));

await device.start();
// Readings of the sensors behind the gateway; each carries its own timestamp, so readings buffered
// during an outage keep the time they were taken.
const read = () => {
  device.send({ 'boiler.temp': 60 + Math.random() * 5, 'pump.rpm': Math.round(1400 + Math.random() * 50) });
  setTimeout(read, interval);
};
read();
process.once('SIGINT', () => void device.stop().then(() => process.exit(0)));
