/**
 * Alert rules and open alerts on the Integrations screen (docs/alerts.md): the tenant's rules with
 * their condition, target and severity, a form for a simple threshold rule, delete; the alerts that
 * are firing or acknowledged, newest first (`GET /v1/alerts?state=open`, more by its cursor), each
 * with acknowledge and resolve. A resolved alert never opens again, so resolving asks first.
 */
import { useState } from 'preact/hooks';
import { Confirm, OutcomeNotice, refusalText, useAction, type SessionOver } from '../shared/actions.js';
import { AddForm, integrationText } from './integration-parts.js';
import {
  integrationsApi as api,
  type Alert,
  type AlertRule,
  type AlertRuleInput,
} from './integrations-api.js';
import { Link, deviceHref } from '../shared/nav.js';
import { setOf } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { Instant, Notice, SelectField, TagList, TextField } from '../shared/ui.js';

type Severity = NonNullable<AlertRuleInput['severity']>;
type Op = NonNullable<AlertRuleInput['threshold']>['op'];
const SEVERITIES: readonly { value: Severity; label: string }[] = [
  { value: 'info', label: 'info' },
  { value: 'warning', label: 'warning' },
  { value: 'error', label: 'error' },
  { value: 'critical', label: 'critical' },
];
const OPS: readonly { value: Op; label: string }[] = [
  { value: '>', label: '> above' },
  { value: '>=', label: '>= at least' },
  { value: '<', label: '< below' },
  { value: '<=', label: '<= at most' },
];
const SEVERITY_CLASS: Record<Severity, string> = {
  info: '',
  warning: 'warn',
  error: 'warn',
  critical: 'warn',
};

/** A rule's condition in words. */
function conditionText(r: AlertRule): string {
  if (r.threshold) {
    const t = r.threshold;
    return `${t.key} ${t.op} ${t.value}${t.clearValue !== t.value ? `, clears past ${t.clearValue}` : ''}${t.forSeconds > 0 ? `, for ${t.forSeconds} s` : ''}`;
  }
  if (r.absence)
    return `no ${r.absence.of === 'presence' ? 'connection' : 'reading'} for ${r.absence.minutes} min`;
  return r.kind;
}

export function Alerts(props: { generation: number; sessionOver: SessionOver }) {
  const [tick, setTick] = useState(0);
  const reload = () => setTick((n) => n + 1);
  return (
    <section class="panel" aria-labelledby="alerts">
      <h2 id="alerts">Alerts</h2>
      <OpenAlerts generation={props.generation + tick} sessionOver={props.sessionOver} />
      <Rules generation={props.generation + tick} sessionOver={props.sessionOver} onChanged={reload} />
    </section>
  );
}

function OpenAlerts(props: { generation: number; sessionOver: SessionOver }) {
  const [alerts, setAlerts] = useState<Alert[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);

  useApiRead(
    () => api.listAlerts({ state: 'open', limit: 50 }),
    (page) => {
      setAlerts(page.items);
      setNext(page.nextCursor);
    },
    [props.generation],
    { sessionOver: props.sessionOver, setError },
  );

  async function more() {
    try {
      const page = await api.listAlerts({ state: 'open', limit: 50, ...(next ? { cursor: next } : {}) });
      setAlerts((list) => [...(list ?? []), ...page.items]);
      setNext(page.nextCursor);
    } catch (e) {
      setError(refusalText(e, props.sessionOver, integrationText));
    }
  }

  /** Replaces an alert by the API's answer; a resolved one leaves the list of open ones. */
  const changed = (a: Alert, text: string) => {
    setDone(text);
    setAlerts((list) =>
      (list ?? []).flatMap((x) => (x.id !== a.id ? [x] : a.state === 'resolved' ? [] : [a])),
    );
  };

  return (
    <>
      <h3>Open alerts</h3>
      {error && <Notice kind="error">{error}</Notice>}
      {done && (
        <Notice kind="success" key={done}>
          {done}
        </Notice>
      )}
      {alerts && alerts.length === 0 && <p class="empty">No alert is open.</p>}
      {alerts && alerts.length > 0 && (
        <ul class="cards">
          {alerts.map((a) => (
            <li key={a.id}>
              <AlertCard alert={a} sessionOver={props.sessionOver} onChanged={changed} />
            </li>
          ))}
        </ul>
      )}
      {next && (
        <div class="actions">
          <button type="button" onClick={() => void more()}>
            More open alerts
          </button>
        </div>
      )}
    </>
  );
}

export function AlertCard(props: {
  alert: Alert;
  sessionOver: SessionOver;
  onChanged(a: Alert, text: string): void;
}) {
  const a = props.alert;
  const action = useAction(props.sessionOver, integrationText);
  const acknowledge = () =>
    action.run(async () => {
      props.onChanged(await api.acknowledgeAlert(a.id), `Acknowledged ${a.ruleName} on ${a.deviceId}.`);
      return undefined;
    });
  const resolve = () =>
    action.run(async () => {
      props.onChanged(await api.resolveAlert(a.id), `Resolved ${a.ruleName} on ${a.deviceId}.`);
      return undefined;
    });

  const now = Date.now();
  return (
    <article class="card-item" aria-label={`Alert ${a.ruleName} on ${a.deviceId}`}>
      <h3>
        {a.ruleName} <span class={`badge ${SEVERITY_CLASS[a.severity]}`}>{a.severity}</span>{' '}
        <span class={`badge ${a.state === 'firing' ? 'warn' : ''}`}>{a.state}</span>
      </h3>
      <dl>
        <dt>Device</dt>
        <dd>
          <Link href={deviceHref(a.deviceId)}>{a.deviceId}</Link>
        </dd>
        <dt>Why</dt>
        <dd>{a.reason}</dd>
        {a.value !== null && (
          <>
            <dt>Value</dt>
            <dd>{a.value}</dd>
          </>
        )}
        <dt>Fired</dt>
        <dd>
          <Instant at={a.firedAt} now={now} />
        </dd>
        {a.acknowledgedAt !== null && (
          <>
            <dt>Acknowledged</dt>
            <dd>
              <Instant at={a.acknowledgedAt} now={now} />
              {a.acknowledgedBy && ` by ${a.acknowledgedBy}`}
            </dd>
          </>
        )}
      </dl>
      <OutcomeNotice outcome={action.outcome} />
      <div class="actions">
        {a.state === 'firing' && (
          <button type="button" class="primary" disabled={action.busy} onClick={() => void acknowledge()}>
            Acknowledge
          </button>
        )}
        <Confirm
          label="Resolve…"
          question="Resolve this alert by hand? It does not open again: if the condition still holds, the rule raises a new alert."
          confirmLabel="Resolve the alert"
          busy={action.busy}
          danger
          onConfirm={resolve}
        />
      </div>
    </article>
  );
}

function Rules(props: { generation: number; sessionOver: SessionOver; onChanged(): void }) {
  const [rules, setRules] = useState<AlertRule[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useApiRead(
    () => api.listAlertRules(),
    (r) => setRules(r.items),
    [props.generation],
    { sessionOver: props.sessionOver, setError },
  );
  return (
    <>
      <h3>Rules</h3>
      {error && <Notice kind="error">{error}</Notice>}
      {rules && rules.length === 0 && <p class="empty">No alert rule yet.</p>}
      {rules && rules.length > 0 && (
        <ul class="cards">
          {rules.map((r) => (
            <li key={r.id}>
              <RuleCard rule={r} sessionOver={props.sessionOver} onChanged={props.onChanged} />
            </li>
          ))}
        </ul>
      )}
      <AddRule sessionOver={props.sessionOver} onCreated={props.onChanged} />
    </>
  );
}

function RuleCard(props: { rule: AlertRule; sessionOver: SessionOver; onChanged(): void }) {
  const r = props.rule;
  const action = useAction(props.sessionOver, integrationText);
  return (
    <article class="card-item" aria-label={`Rule ${r.name}`}>
      <h3>
        {r.name} <span class={`badge ${SEVERITY_CLASS[r.severity]}`}>{r.severity}</span>
        {!r.enabled && <span class="badge off">disabled</span>}
      </h3>
      <dl>
        <dt>When</dt>
        <dd>{conditionText(r)}</dd>
        <dt>Devices</dt>
        <dd>
          {r.target.tags ? (
            <TagList tags={r.target.tags} />
          ) : r.target.deviceIds ? (
            r.target.deviceIds.join(', ')
          ) : (
            'all devices'
          )}
        </dd>
      </dl>
      <OutcomeNotice outcome={action.outcome} />
      <div class="actions">
        <Confirm
          label="Delete…"
          question={`Delete the rule ${r.name}? Its open alerts are resolved; its alerts are kept.`}
          confirmLabel={`Delete ${r.name}`}
          busy={action.busy}
          danger
          onConfirm={() =>
            action.run(async () => {
              await api.deleteAlertRule(r.id);
              props.onChanged();
              return undefined;
            })
          }
        />
      </div>
    </article>
  );
}

const NO_RULE = { name: '', key: '', value: '', tags: '' };

/** A threshold rule: a telemetry key against a value, for every device or those with a tag. */
function AddRule(props: { sessionOver: SessionOver; onCreated(): void }) {
  const [draft, setDraft] = useState(NO_RULE);
  const [op, setOp] = useState<Op>('>');
  const [severity, setSeverity] = useState<Severity>('warning');
  const [valueError, setValueError] = useState<string | undefined>(undefined);
  const action = useAction(props.sessionOver, integrationText);
  const set = (key: keyof typeof NO_RULE) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));

  function create(): Promise<boolean> {
    const threshold = Number(draft.value);
    const problem =
      draft.value.trim() === '' || !Number.isFinite(threshold) ? 'A number, such as 80 or -5.5.' : undefined;
    setValueError(problem);
    if (problem) {
      action.setOutcome(undefined);
      return Promise.resolve(false);
    }
    return action.run(async () => {
      const tags = setOf(draft.tags);
      await api.createAlertRule({
        name: draft.name.trim(),
        kind: 'threshold',
        severity,
        threshold: { key: draft.key.trim(), op, value: threshold },
        ...(tags.length > 0 ? { target: { tags } } : {}),
      });
      setDraft(NO_RULE);
      props.onCreated();
      return undefined;
    });
  }

  return (
    <AddForm
      summary="Add a rule"
      label="Add an alert rule"
      submitLabel="Add the rule"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={create}
    >
      <p class="hint">
        A rule on a device's latest value of a telemetry key, judged every few seconds. Rules that wait for a
        silence, or a breach that must last, are made with the API or the command line.
      </p>
      <TextField
        label="Rule name"
        value={draft.name}
        onInput={set('name')}
        required
        maxLength={128}
        disabled={action.busy}
      />
      <div class="filter-fields">
        <TextField
          label="Telemetry key"
          value={draft.key}
          onInput={set('key')}
          required
          maxLength={64}
          disabled={action.busy}
        />
        <SelectField label="Comparison" value={op} options={OPS} onChange={(v) => setOp(v)} />
        <TextField
          label="Value"
          value={draft.value}
          onInput={set('value')}
          required
          error={valueError}
          disabled={action.busy}
        />
        <SelectField
          label="Severity"
          value={severity}
          options={SEVERITIES}
          onChange={(v) => setSeverity(v)}
        />
      </div>
      <TextField
        label="Device tags (optional)"
        hint="Only devices with one of these tags, separated by spaces. Empty: every device."
        value={draft.tags}
        onInput={set('tags')}
        disabled={action.busy}
      />
    </AddForm>
  );
}
