/**
 * The health gate of a deployment and its last comparison (`health` of `GET /v1/deployments/{id}`):
 * the share of unhealthy devices (rebooting, offline or crashing in the window) among the devices it
 * updated and among the control cohort not offered yet, drawn as two bars on one 0–100 % scale, with
 * the line the updated bar must not pass (the control's share plus the gate's margin), and the same
 * figures as a table for those who do not see the bars. The verdict and its reason are the server's.
 */
import type { Deployment } from '../shared/api.js';
import { plural, when } from '../shared/messages.js';

interface Gate {
  enabled: boolean;
  marginPercent: number;
  minSample: number;
  windowSeconds: number;
  maxReboots: number;
  telemetry: { key: string; worseWhen: 'higher' | 'lower'; marginPercent: number } | null;
}

const VERDICT: Record<'pass' | 'fail' | 'insufficient', { text: string; badge: string }> = {
  pass: { text: 'Pass', badge: 'ok' },
  fail: { text: 'Fail', badge: 'bad' },
  insufficient: { text: 'Cannot judge yet', badge: 'off' },
};

/** A share as a bar on a 0–100 % scale; `limit` a line across it, reaching above and below the bar. */
function Bar(props: { percent: number; limit?: number; kind: 'updated' | 'control' }) {
  const clamp = (n: number) => Math.max(0, Math.min(100, n));
  return (
    <svg
      class={`health-bar ${props.kind}`}
      viewBox="0 0 100 14"
      preserveAspectRatio="none"
      aria-hidden="true"
      focusable="false"
    >
      <rect class="track" y="3" width="100" height="8" />
      <rect class="value" y="3" width={clamp(props.percent)} height="8" />
      {props.limit !== undefined && props.limit <= 100 && (
        <line class="limit" x1={clamp(props.limit)} x2={clamp(props.limit)} y1="0" y2="14" />
      )}
    </svg>
  );
}

export function HealthPanel(props: { deployment: Deployment }) {
  const d = props.deployment;
  const gate = d.healthGate as Gate;
  const h = d.health;
  const limit = h ? h.control.unhealthyPercent + gate.marginPercent : undefined;
  return (
    <section class="panel" aria-labelledby="deployment-health">
      <h2 id="deployment-health">Health gate</h2>
      {!gate.enabled ? (
        <p>The health gate is off for this deployment.</p>
      ) : (
        <p class="hint">
          Pauses the deployment when the updated devices are unhealthy more often than the devices not yet
          offered, by more than {gate.marginPercent} points, with at least {plural(gate.minSample, 'device')}{' '}
          in each group. Unhealthy: offline, connected more than {plural(gate.maxReboots, 'time')} or sent an
          error in the last {plural(Math.round(gate.windowSeconds / 60), 'minute')}.
          {gate.telemetry &&
            ` Also when the mean of ${gate.telemetry.key} is ${gate.telemetry.worseWhen} by more than ${gate.telemetry.marginPercent} %.`}
        </p>
      )}
      {gate.enabled && !h && <p class="empty">The gate has not compared the devices yet.</p>}
      {h && (
        <figure class="health">
          <p class="verdict">
            <span class={`badge ${VERDICT[h.verdict].badge}`}>{VERDICT[h.verdict].text}</span> {h.reason}{' '}
            <span class="hint">({when(h.at)})</span>
          </p>
          <div class="health-chart" aria-hidden="true">
            {(['updated', 'control'] as const).map((kind) => (
              <div key={kind}>
                <span>{kind === 'updated' ? 'Updated' : 'Control'}</span>
                <Bar
                  kind={kind}
                  percent={h[kind].unhealthyPercent}
                  {...(kind === 'updated' && limit !== undefined ? { limit } : {})}
                />
                <span class="num">{h[kind].unhealthyPercent} %</span>
              </div>
            ))}
          </div>
          <div class="table-scroll">
            <table class="health-table">
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col" class="num">
                    Devices
                  </th>
                  <th scope="col" class="num">
                    Unhealthy
                  </th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {(['updated', 'control'] as const).map((kind) => {
                  const c = h[kind];
                  return (
                    <tr key={kind}>
                      <th scope="row">{kind === 'updated' ? 'Updated' : 'Control'}</th>
                      <td class="num">{c.devices}</td>
                      <td class="num">{c.unhealthyPercent} %</td>
                      <td>
                        {c.rebooting} rebooting, {c.offline} offline, {c.crashing} crashing
                        {c.telemetryMean !== null &&
                          gate.telemetry &&
                          `; mean ${gate.telemetry.key} ${c.telemetryMean}`}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {limit !== undefined && (
            <figcaption class="hint">
              The red line is where the gate pauses: {Math.round(limit * 100) / 100} % unhealthy among the
              updated devices (the control's share plus {gate.marginPercent} points).
            </figcaption>
          )}
        </figure>
      )}
    </section>
  );
}
