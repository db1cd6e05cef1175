/**
 * A device's page (`/console/devices/<deviceId>`, reached from its name in the Fleet list): who it
 * is and how it stands (`GET /v1/devices/{id}`), its last connections and disconnections with their
 * reasons (`…/presence`) and a timeline of them over 24 hours or 7 days, its latest values
 * (`…/telemetry/latest`), a chart of one numeric value over time, its commands, its configuration
 * twin, its certificates and credentials (revocable), its open alerts, its recent failures and
 * refusals, and its audit records. Everything comes from the REST API and is
 * shown as text; a refusal is said with its code.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { ApiProblem, api, type DeviceDetail, type LatestValue, type PresenceEvent } from '../shared/api.js';
import { DeviceCommands } from './device-commands.js';
import { DeviceConfigPanel } from './device-config.js';
import { DeviceCredentials } from './device-credentials.js';
import { DeviceAlerts, DeviceAudit } from './device-records.js';
import { DeviceProblems } from '../fleet/problems.js';
import { PresenceTimeline } from './presence-timeline.js';
import { DeviceBadges, firmwareText, PresenceFacts } from '../fleet/devices.js';
import { problemText, when } from '../shared/messages.js';
import { BASE, Link } from '../shared/nav.js';
import { TelemetryChart } from './telemetry-chart.js';
import { Instant, Notice, ScreenTitle, TagList } from '../shared/ui.js';

/** Presence events shown. */
const PRESENCE = 8;

export function DevicePage(props: { deviceId: string; sessionOver: SessionOver }) {
  const { deviceId, sessionOver } = props;
  const [device, setDevice] = useState<DeviceDetail | undefined>(undefined);
  const [presence, setPresence] = useState<PresenceEvent[] | undefined>(undefined);
  const [latest, setLatest] = useState<LatestValue[] | undefined>(undefined);
  const [error, setError] = useState<ApiProblem | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  /** Raised to read everything again (Refresh). */
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let current = true;
    setLoading(true);
    void (async () => {
      try {
        const [d, p, l] = await Promise.all([
          api.getDevice(deviceId),
          api.getPresence(deviceId, PRESENCE),
          api.getLatestTelemetry(deviceId),
        ]);
        if (!current) return;
        setDevice(d);
        setPresence(p.items);
        setLatest([...l.items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
        setError(undefined);
      } catch (e) {
        if (!(e instanceof ApiProblem)) throw e;
        if (current && !sessionOver(e)) setError(e);
      } finally {
        if (current) setLoading(false);
      }
    })();
    return () => {
      current = false;
    };
  }, [deviceId, generation]);

  const now = Date.now();
  const numericKeys = (latest ?? []).filter((v) => typeof v.value === 'number').map((v) => v.key);
  return (
    <section class="device-page wide" aria-busy={loading}>
      <p class="back">
        <Link href={`${BASE}/fleet`}>← Fleet</Link>
      </p>
      <ScreenTitle onRefresh={() => setGeneration((g) => g + 1)}>{device?.name ?? 'Device'}</ScreenTitle>
      {error && (
        <Notice kind="error">
          {error.code === 'NOT_FOUND' || error.status === 404
            ? `There is no device ${deviceId} in this tenant (${error.code}).`
            : problemText(error)}
        </Notice>
      )}
      {device && (
        <>
          <section class="panel" aria-labelledby="device-about">
            <h2 id="device-about">Device</h2>
            <Header device={device} now={now} />
            <h3>Connections</h3>
            {presence && <Connections presence={presence} now={now} />}
          </section>
          <section class="panel" aria-labelledby="device-timeline">
            <h2 id="device-timeline">Presence timeline</h2>
            <PresenceTimeline deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-latest">
            <h2 id="device-latest">Latest values</h2>
            {latest && <LatestValues latest={latest} />}
          </section>
          <section class="panel" aria-labelledby="device-chart">
            <h2 id="device-chart">Telemetry</h2>
            {latest && (
              <TelemetryChart
                deviceId={deviceId}
                keys={numericKeys}
                generation={generation}
                sessionOver={sessionOver}
              />
            )}
          </section>
          <section class="panel" aria-labelledby="device-commands">
            <h2 id="device-commands">Commands</h2>
            <DeviceCommands deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-config">
            <h2 id="device-config">Configuration</h2>
            <DeviceConfigPanel deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-credentials">
            <h2 id="device-credentials">Certificates and credentials</h2>
            <DeviceCredentials deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-alerts">
            <h2 id="device-alerts">Alerts</h2>
            <DeviceAlerts deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-problems">
            <h2 id="device-problems">Failures and refusals</h2>
            <DeviceProblems deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
          <section class="panel" aria-labelledby="device-audit">
            <h2 id="device-audit">Audit records</h2>
            <DeviceAudit deviceId={deviceId} generation={generation} sessionOver={sessionOver} />
          </section>
        </>
      )}
    </section>
  );
}

function Header(props: { device: DeviceDetail; now: number }) {
  const d = props.device;
  const { presence, firmware } = d;
  return (
    <>
      <DeviceBadges status={d.status} presence={presence} />
      <dl class="device-facts">
        <dt>Id</dt>
        <dd>
          <code>{d.id}</code>
        </dd>
        <dt>Serial</dt>
        <dd>{d.serial ?? 'none'}</dd>
        <dt>Firmware</dt>
        <dd>{firmwareText(firmware)}</dd>
        <PresenceFacts presence={presence} now={props.now} />
        {!presence.connected && presence.lastDisconnectReason !== null && (
          <>
            <dt>Disconnected because</dt>
            <dd>{presence.lastDisconnectReason}</dd>
          </>
        )}
        <dt>Tags</dt>
        <dd>
          <TagList tags={d.tags} />
        </dd>
      </dl>
    </>
  );
}

function Connections(props: { presence: PresenceEvent[]; now: number }) {
  if (props.presence.length === 0) return <p class="empty">The device has never connected.</p>;
  return (
    <ol class="presence" aria-label="Recent connections">
      {props.presence.map((p, i) => (
        <li key={`${p.at}-${i}`}>
          <span class={`badge ${p.event === 'connected' ? 'ok' : 'off'}`}>
            {p.event === 'connected' ? 'Connected' : 'Disconnected'}
          </span>{' '}
          <Instant at={p.at} now={props.now} />
          {p.reason !== null && <span> · {p.reason}</span>}
          {p.transport !== null && <span class="hint"> · {p.transport}</span>}
        </li>
      ))}
    </ol>
  );
}

function LatestValues(props: { latest: LatestValue[] }) {
  if (props.latest.length === 0) return <p class="empty">The device has not sent any value.</p>;
  return (
    <table class="latest">
      <thead>
        <tr>
          <th scope="col">Key</th>
          <th scope="col">Value</th>
          <th scope="col">Time</th>
        </tr>
      </thead>
      <tbody>
        {props.latest.map((v) => (
          <tr key={v.key}>
            <th scope="row">{v.key}</th>
            <td class={typeof v.value === 'number' ? 'num' : undefined}>{String(v.value)}</td>
            <td>
              <time dateTime={new Date(v.ts).toISOString()} title={when(v.ts)}>
                {when(v.ts)}
              </time>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
