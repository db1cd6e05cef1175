/** `mooring` server commands. */
import { loadConfig, ConfigError, type Config } from '../config.js';
import { startPlatform, type Platform } from '../app.js';

const USAGE = `Usage: mooring serve [--dev-insecure-mqtt]

Starts the platform: HTTPS (REST, device API, MQTT over WebSocket) and MQTT over TLS, with an embedded
database in the data directory unless MOORING_DATABASE_URL is set. Configuration comes from MOORING_*
environment variables and an optional JSON file named by MOORING_CONFIG_FILE; see the README.

Options:
  --dev-insecure-mqtt   also open an anonymous plain-TCP MQTT listener on 127.0.0.1 (development only)
  -h, --help            show this help
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command !== 'serve') {
    process.stderr.write(`mooring: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  const overrides: { devInsecureMqtt?: boolean } = {};
  for (const arg of rest) {
    if (arg === '--dev-insecure-mqtt') overrides.devInsecureMqtt = true;
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else {
      process.stderr.write(`mooring serve: unknown option '${arg}'\n`);
      return 2;
    }
  }
  let config: Config;
  try {
    config = loadConfig(process.env, overrides);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`mooring: configuration error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Whatever this process creates (data directory files, logs redirected by the operator's shell are
  // not ours) is owner-only from the start; the data directory's modes are also set explicitly.
  process.umask(0o077);
  let platform: Platform;
  try {
    platform = await startPlatform(config);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
      process.stderr.write(
        `mooring: cannot start: ${err.address ?? ''}:${err.port ?? ''} is ${err.code === 'EADDRINUSE' ? 'in use' : 'not allowed'}; ` +
          'choose another MOORING_HTTP_PORT, MOORING_MQTT_PORT or MOORING_MQTT_MTLS_PORT\n',
      );
      return 1;
    }
    process.stderr.write(`mooring: cannot start: ${err.message}\n`);
    return 1;
  }
  process.stdout.write(
    [
      `Mooring is running.`,
      `  REST API:        https://localhost:${platform.httpPort}/v1   (OpenAPI: /openapi.json)`,
      platform.consoleBuilt
        ? `  Web console:     https://localhost:${platform.httpPort}/console`
        : `  Web console:     not built (npm run build), /console answers CONSOLE_NOT_BUILT`,
      `  MQTT over TLS:   mqtts://localhost:${platform.mqttPort}`,
      `  MQTT over mTLS:  mqtts://localhost:${platform.mqttMtlsPort}   (device certificates)`,
      `  MQTT over WSS:   wss://localhost:${platform.httpPort}/mqtt`,
      platform.operatorCertificate
        ? `  Server TLS:      your certificate (MOORING_TLS_CERT_FILE); clients trust the CA that signed it`
        : `  Platform CA:     ${platform.caFile}   (devices and clients pin this)`,
      platform.bootstrapCredentialFile
        ? `  Admin login:     ${platform.bootstrapCredentialFile}   (one-time password, owner-readable only: log in with it and choose your own)`
        : `  Admin login:     admin, with the password chosen at the first login (the one-time one is spent)`,
      platform.insecureMqttPort !== null
        ? `  DEV plain MQTT:  mqtt://127.0.0.1:${platform.insecureMqttPort}   (anonymous, development only)`
        : '',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      platform.logger.info({ signal }, 'shutting down');
      platform.stop().then(resolve, (err: unknown) => {
        platform.logger.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  return 0;
}
