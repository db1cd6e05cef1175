/**
 * A change to every device the list's filter matches: add or remove tags, disable, enable, revoke every
 * credential, or merge a JSON Merge Patch into the desired configuration. It is done
 * in two steps, and the count comes from the server both times: first a dry run counts the devices
 * (nothing changes), then the confirmation says that count and sends it as `expectMatched`, so that
 * the server refuses (BULK_MATCH_CHANGED) when the devices matching are no longer the ones counted;
 * the console then counts again and asks again. The filter is the one applied (the page's address),
 * never what is typed in the filter form and not yet applied. Revoking and the configuration run as a
 * job on the server: its progress is shown until it is done (`bulk-job.tsx`).
 */
import { useEffect, useState } from 'preact/hooks';
import { ConfirmPanel, refusalText, type SessionOver } from '../shared/actions.js';
import {
  ApiProblem,
  api,
  type BulkAction,
  type BulkJob,
  type BulkResult,
  type DeviceFilter,
} from '../shared/api.js';
import { BulkJobProgress } from './bulk-job.js';
import { describeFilter } from './filter.js';
import { bulkText, plural, setOf } from '../shared/messages.js';
import { Notice, SelectField, TextAreaField, TextField } from '../shared/ui.js';

type Kind = BulkAction['type'];
const KINDS: readonly { value: Kind; label: string }[] = [
  { value: 'addTags', label: 'Add tag' },
  { value: 'removeTags', label: 'Remove tag' },
  { value: 'disable', label: 'Disable' },
  { value: 'enable', label: 'Enable' },
  { value: 'revoke', label: 'Revoke every credential' },
  { value: 'setDesiredConfig', label: 'Set desired configuration' },
];

/** The patch as typed: an object, or why not (shown on the field). */
function parsePatch(text: string): { patch: Record<string, unknown> } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `Not JSON: ${(e as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { error: 'A JSON Merge Patch is an object: { "member": value, "removed": null }.' };
  return { patch: value as Record<string, unknown> };
}

const tagWords = (tags: string[]) => `${tags.length === 1 ? 'tag' : 'tags'} ${tags.join(', ')}`;

/** The confirming button's words: what happens, to how many. */
function actionText(action: BulkAction, n: number): string {
  const devices = plural(n, 'device');
  switch (action.type) {
    case 'addTags':
      return `Add ${tagWords(action.tags)} to ${devices}`;
    case 'removeTags':
      return `Remove ${tagWords(action.tags)} from ${devices}`;
    case 'disable':
      return `Disable ${devices}`;
    case 'enable':
      return `Enable ${devices}`;
    case 'revoke':
      return `Revoke every credential of ${devices}`;
    case 'setDesiredConfig':
      return `Set the desired configuration of ${devices}`;
  }
}

function doneText(r: BulkResult): string {
  const unchanged = r.matched - r.changed;
  return `Done: ${plural(r.changed, 'device')} changed${
    unchanged > 0 ? `; ${unchanged} of the ${r.matched} matching needed no change` : ''
  }.`;
}

export function BulkPanel(props: { filter: DeviceFilter; sessionOver: SessionOver; onChanged(): void }) {
  const [kind, setKind] = useState<Kind>('addTags');
  const [tagText, setTagText] = useState('');
  const [patchText, setPatchText] = useState('');
  /** The job a revocation or a configuration change started, shown until it is done. */
  const [job, setJob] = useState<BulkJob | undefined>(undefined);
  /** The dry run's count, waiting for the confirmation: the devices matched, and how many would change. */
  const [count, setCount] = useState<BulkResult | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);

  const filterWords = describeFilter(props.filter);
  // Each tag once: the API refuses a list that names one twice.
  const tags = setOf(tagText);
  const parsed = kind === 'setDesiredConfig' ? parsePatch(patchText) : undefined;
  const patchError = parsed && 'error' in parsed && patchText.trim() !== '' ? parsed.error : undefined;
  const action: BulkAction =
    kind === 'addTags' || kind === 'removeTags'
      ? { type: kind, tags }
      : kind === 'setDesiredConfig'
        ? { type: kind, patch: parsed && 'patch' in parsed ? parsed.patch : {} }
        : { type: kind };

  // A count holds for the filter and the change it was made for, no other.
  const filterKey = JSON.stringify(props.filter);
  useEffect(() => {
    setCount(undefined);
    setError(undefined);
    setDone(undefined);
    setJob(undefined);
  }, [filterKey]);

  function change(next: () => void) {
    next();
    setCount(undefined);
    setDone(undefined);
  }

  /** Runs a step; a refusal is said, and what was counted no longer holds. */
  async function step(run: () => Promise<void>) {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await run();
    } catch (e) {
      setCount(undefined);
      setError(refusalText(e, props.sessionOver, bulkText));
    } finally {
      setBusy(false);
    }
  }

  const dryRun = () => api.bulkDevices({ filter: props.filter, action, dryRun: true });
  const countMatching = (event: Event) => {
    event.preventDefault();
    if (parsed && 'error' in parsed) {
      setError(`The desired configuration: ${parsed.error}`);
      return;
    }
    void step(async () => setCount(await dryRun()));
  };

  const confirm = (expectMatched: number) =>
    step(async () => {
      try {
        const r = await api.bulkDevices({ filter: props.filter, action, dryRun: false, expectMatched });
        setCount(undefined);
        if ('job' in r) setJob(r.job);
        else {
          setDone(doneText(r));
          props.onChanged();
        }
      } catch (e) {
        if (!(e instanceof ApiProblem) || e.code !== 'BULK_MATCH_CHANGED') throw e;
        // Devices came or went since the count: count again, and ask again with the new count.
        const again = await dryRun();
        setCount(again);
        setError(`${bulkText(e)} ${plural(again.matched, 'device')} match now.`);
      }
    });

  const matched = count?.matched;
  return (
    <details class="fold bulk">
      <summary>Change every matching device</summary>
      <form onSubmit={countMatching}>
        <p>
          {filterWords.length > 0 ? (
            <>Devices that are {filterWords.join(', ')}: the filter applied above.</>
          ) : (
            <strong>No filter is applied: a change here applies to every device.</strong>
          )}
        </p>
        <SelectField
          label="Change"
          value={kind}
          options={KINDS}
          disabled={busy}
          onChange={(v) => change(() => setKind(v))}
        />
        {(kind === 'addTags' || kind === 'removeTags') && (
          <TextField
            label={kind === 'addTags' ? 'Tags to add' : 'Tags to remove'}
            hint="One or more, separated by spaces."
            value={tagText}
            onInput={(v) => change(() => setTagText(v))}
            required
            disabled={busy}
          />
        )}
        {kind === 'setDesiredConfig' && (
          <TextAreaField
            label="Desired configuration (JSON Merge Patch)"
            hint='Merged into each device’s desired configuration: { "interval": 30, "debug": null } sets interval and removes debug. A device whose configuration schema refuses the result is skipped.'
            value={patchText}
            onInput={(v) => change(() => setPatchText(v))}
            error={patchError}
            rows={6}
            disabled={busy}
          />
        )}
        {error && <Notice kind="error">{error}</Notice>}
        {job && (
          <BulkJobProgress
            key={job.id}
            job={job}
            sessionOver={props.sessionOver}
            onFinished={props.onChanged}
          />
        )}
        {done && (
          <Notice kind="success" focus key={done}>
            {done}
          </Notice>
        )}
        {!count || matched === 0 ? (
          <>
            {matched === 0 && <Notice kind="info">No device matches: there is nothing to change.</Notice>}
            <div class="actions">
              <button type="submit" disabled={busy}>
                {busy ? 'Counting…' : 'Count matching devices'}
              </button>
            </div>
          </>
        ) : (
          <ConfirmPanel
            // A new count asks anew: the question takes the focus again.
            key={count.matched}
            name="Confirm the change"
            question={
              <>
                {plural(count.matched, 'device')} {count.matched === 1 ? 'matches' : 'match'}.{' '}
                {count.wouldChange < count.matched &&
                  `${count.wouldChange} of them would change (the others are as asked already). `}
                {kind === 'disable' &&
                  'Disabling closes their connections; they cannot connect until enabled. '}
                {kind === 'revoke' &&
                  'Revoking closes their connections and cannot be undone: their certificates, access keys and registration tokens stop working for good, and each device needs new credentials to connect again. '}
                Nothing has changed yet.
              </>
            }
            confirmLabel={actionText(action, count.matched)}
            danger={kind === 'disable' || kind === 'revoke'}
            busy={busy}
            onConfirm={() => void confirm(count.matched)}
            onCancel={() => setCount(undefined)}
          />
        )}
      </form>
    </details>
  );
}
