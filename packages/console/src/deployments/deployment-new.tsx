/**
 * A new deployment (`POST /v1/deployments`): the artifact (from `GET /v1/artifacts`), the target the
 * API takes (tags, running versions, below a version, device ids; the artifact adds its hardware
 * class, its minimum version and "older than its own"), the phases with their soak, how many
 * devices at once, retries, the status rule and the health gate. An empty field sends nothing and
 * the API's default applies. The API checks every value: a refusal is said with its code, and on the
 * fields its `errors` name. Created, the deployment's page opens. Opened from the Fleet screen ("Deploy to
 * these devices", `fleet/deploy.ts`), the form is open with the target its filter can say.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, api, type Artifact, type DeploymentRequest } from '../shared/api.js';
import { EMPTY_DRAFT, FieldProblem, fieldErrors, requestOf, type Draft } from './deployment-request.js';
import { deploymentText } from './deployment-text.js';
import { deploymentHref, navigate } from '../shared/nav.js';
import { prefillOf } from '../fleet/deploy.js';
import { Notice, SelectField, TextField } from '../shared/ui.js';

export function NewDeployment(props: { sessionOver(e: unknown): boolean }) {
  // "Deploy to these devices" on the Fleet screen opens the form with its filter as the target.
  const [prefill] = useState(() => prefillOf(location.search));
  const [open, setOpen] = useState(prefill !== undefined);
  const [artifacts, setArtifacts] = useState<Artifact[] | undefined>(undefined);
  const [draft, setDraft] = useState<Draft>(() => ({ ...EMPTY_DRAFT, ...prefill }));
  const [error, setError] = useState<string | undefined>(undefined);
  const [fields, setFields] = useState<Partial<Record<keyof Draft, string>>>({});
  const [busy, setBusy] = useState(false);

  // The artifacts are read when the form is opened, and again each time.
  useEffect(() => {
    if (!open) return;
    let current = true;
    api
      .listArtifacts({ limit: 100 })
      .then((page) => {
        if (!current) return;
        setArtifacts(page.items);
        setDraft((d) =>
          page.items.some((a) => a.id === d.artifactId) ? d : { ...d, artifactId: page.items[0]?.id ?? '' },
        );
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiProblem)) throw e;
        if (current && !props.sessionOver(e)) setError(deploymentText(e));
      });
    return () => {
      current = false;
    };
  }, [open]);

  const set =
    <K extends keyof Draft>(key: K) =>
    (value: Draft[K]) => {
      setDraft((d) => ({ ...d, [key]: value }));
      setFields((f) => ({ ...f, [key]: undefined }));
    };
  const text = (key: keyof Draft, label: string, hint?: string, numeric = false) => (
    <TextField
      label={label}
      {...(hint ? { hint } : {})}
      value={draft[key] as string}
      onInput={set(key) as (v: string) => void}
      error={fields[key]}
      disabled={busy}
      {...(numeric ? { inputMode: 'numeric' as const } : {})}
    />
  );

  async function create(event: Event) {
    event.preventDefault();
    setError(undefined);
    setFields({});
    let body: DeploymentRequest;
    try {
      body = requestOf(draft);
    } catch (e) {
      if (!(e instanceof FieldProblem)) throw e;
      setFields({ [e.field]: e.message });
      setError('A field is not filled in as it should be: see below.');
      return;
    }
    setBusy(true);
    try {
      const created = await api.createDeployment(body);
      navigate(deploymentHref(created.id));
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (!props.sessionOver(e)) {
        setError(deploymentText(e));
        setFields(fieldErrors(e));
      }
    } finally {
      setBusy(false);
    }
  }

  const options = (artifacts ?? []).map((a) => ({
    value: a.id,
    label: `${a.manifest.version} for ${a.manifest.hardwareClass} (sequence ${a.manifest.sequence})`,
  }));
  return (
    <details
      class="fold new-deployment"
      open={prefill !== undefined}
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>New deployment</summary>
      {error && <Notice kind="error">{error}</Notice>}
      {artifacts && artifacts.length === 0 && (
        <Notice kind="info">
          There is no firmware artifact to deploy yet: upload one first (`mooring artifacts upload`).
        </Notice>
      )}
      {artifacts && artifacts.length > 0 && (
        <form onSubmit={(e) => void create(e)} aria-label="New deployment">
          <SelectField
            label="Artifact"
            value={draft.artifactId}
            options={options}
            onChange={set('artifactId')}
            disabled={busy}
          />
          {text('name', 'Name (optional)')}
          <fieldset>
            <legend>Which devices</legend>
            <p class="hint">
              Every condition given must hold; none: every device of the artifact's hardware class. The
              artifact adds its own: its hardware class, its minimum version, and a version older than its
              own. The devices are the ones matching now; devices added later are not in it.
            </p>
            <div class="filter-fields">
              {text('tags', 'Tags', 'Any of these, separated by spaces.')}
              {text('versions', 'Running versions', 'Any of these, e.g. 1.4.0 1.4.1')}
              {text('belowVersion', 'Below version')}
              {text('deviceIds', 'Device ids', 'Separated by spaces.')}
            </div>
          </fieldset>
          <fieldset>
            <legend>Rollout</legend>
            <div class="filter-fields">
              {text(
                'phases',
                'Phases (%)',
                'Rising shares ending at 100, e.g. 1 10 50 100. Empty: 1, 10, 50, 100.',
              )}
              {text('soakMinutes', 'Soak (minutes)', 'Wait after each phase. Empty: an hour.', true)}
              {text('maxInFlight', 'At once', 'Devices updating at a time. Empty: no limit.', true)}
              {text('retries', 'Retries', 'After a failure. Empty: 2.', true)}
            </div>
          </fieldset>
          <fieldset>
            <legend>Status rule: abort on failures</legend>
            <div class="filter-fields">
              {text('failurePercent', 'Failed above (%)', 'Empty: 10.', true)}
              {text('minExecutions', 'After updates', 'Finished updates first. Empty: 10.', true)}
            </div>
          </fieldset>
          <fieldset>
            <legend>Health gate: pause when updated devices are less healthy</legend>
            <div class="check">
              <input
                id="health-gate-on"
                type="checkbox"
                checked={draft.gate}
                disabled={busy}
                onChange={(e) => set('gate')((e.currentTarget as HTMLInputElement).checked)}
              />
              <label for="health-gate-on">Health gate on</label>
            </div>
            {draft.gate && (
              <div class="filter-fields">
                {text('marginPercent', 'Margin (points)', 'Worse than the others by more. Empty: 5.', true)}
                {text('minSample', 'Sample', 'Devices in each group first. Empty: 20.', true)}
                {text('windowMinutes', 'Window (minutes)', 'Empty: 60.', true)}
                {text('maxReboots', 'Reboots', 'More in the window is unhealthy. Empty: 2.', true)}
              </div>
            )}
          </fieldset>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy || !draft.artifactId}>
              {busy ? 'Creating…' : 'Create deployment'}
            </button>
          </div>
        </form>
      )}
    </details>
  );
}
