/**
 * A device's commands on its page: the recent ones with their status and what the device answered
 * (`GET …/commands`), and a form to send one (`POST …/commands`: a name and JSON parameters). While a
 * command shown is still waiting for the device (pending or delivered), the list is read again every
 * few seconds (less often after a minute), so the answer appears when the device gives it.
 */
import { useRef, useState } from 'preact/hooks';
import { OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { api, type Command } from '../shared/api.js';
import { json } from '../shared/messages.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Instant, Notice, PollStopped, TextAreaField, TextField } from '../shared/ui.js';

const RECENT = 10;
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const open = (c: Command) => c.status === 'pending' || c.status === 'delivered';
const STATUS_CLASS: Record<Command['status'], string> = {
  pending: '',
  delivered: '',
  succeeded: 'ok',
  failed: 'warn',
  expired: 'off',
};

export function DeviceCommands(props: {
  deviceId: string;
  generation: number;
  sessionOver(e: unknown): boolean;
}) {
  const [commands, setCommands] = useState<Command[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  // Waiting for a device's answer: the list is read again a little later.
  const poll = usePoll(commands?.some(open) ?? false, commands, [props.deviceId, props.generation]);

  useApiRead(
    () => api.listCommands(props.deviceId, { limit: RECENT }),
    (page) => setCommands(page.items),
    [props.deviceId, props.generation, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );

  const now = Date.now();
  return (
    <>
      <SendCommand
        deviceId={props.deviceId}
        sessionOver={props.sessionOver}
        onSent={(c) => {
          poll.restart();
          setCommands((list) => [c, ...(list ?? []).filter((o) => o.id !== c.id)]);
        }}
      />
      {error && <Notice kind="error">{error}</Notice>}
      <PollStopped stopped={poll.stopped} />
      {commands && commands.length === 0 && <p class="empty">No command has been sent to this device.</p>}
      {commands && commands.length > 0 && (
        <ul class="commands" aria-label="Recent commands">
          {commands.map((c) => (
            <li key={c.id}>
              <article class="command" aria-label={`Command ${c.name}`}>
                <div class="command-head">
                  <strong>{c.name}</strong> <span class={`badge ${STATUS_CLASS[c.status]}`}>{c.status}</span>{' '}
                  <span class="hint">
                    sent <Instant at={c.createdAt} now={now} />
                  </span>
                </div>
                <dl>
                  <dt>Id</dt>
                  <dd>
                    <code>{c.id}</code>
                  </dd>
                  {c.params !== undefined && c.params !== null && (
                    <>
                      <dt>Parameters</dt>
                      <dd>
                        <pre>{json(c.params)}</pre>
                      </dd>
                    </>
                  )}
                  {c.completedAt !== null && (
                    <>
                      <dt>Answered</dt>
                      <dd>
                        <Instant at={c.completedAt} now={now} />
                      </dd>
                    </>
                  )}
                  {c.result !== null && c.result !== undefined && (
                    <>
                      <dt>Result</dt>
                      <dd>
                        <pre>{json(c.result)}</pre>
                      </dd>
                    </>
                  )}
                  {c.error !== null && (
                    <>
                      <dt>Error</dt>
                      <dd>{c.error}</dd>
                    </>
                  )}
                </dl>
              </article>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function SendCommand(props: { deviceId: string; sessionOver: SessionOver; onSent(c: Command): void }) {
  const [name, setName] = useState('');
  const [params, setParams] = useState('');
  const [nameError, setNameError] = useState<string | undefined>(undefined);
  const [paramsError, setParamsError] = useState<string | undefined>(undefined);
  const action = useAction(props.sessionOver);
  const formRef = useRef<HTMLFormElement>(null);

  function send(event: Event) {
    event.preventDefault();
    const badName = NAME.test(name)
      ? undefined
      : 'A command name is 1 to 64 of the letters, digits and _ . : -';
    let parsed: unknown;
    let badParams: string | undefined;
    if (params.trim() !== '')
      try {
        parsed = JSON.parse(params);
      } catch (e) {
        badParams = `Not JSON: ${e instanceof Error ? e.message : String(e)}`;
      }
    setNameError(badName);
    setParamsError(badParams);
    if (badName || badParams) {
      action.setOutcome(undefined);
      formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    void action.run(async () => {
      const sent = await api.sendCommand(props.deviceId, {
        name,
        ...(parsed !== undefined ? { params: parsed } : {}),
      });
      props.onSent(sent);
      setName('');
      setParams('');
      return `Sent ${sent.name} (${sent.id}); waiting for the device.`;
    });
  }

  return (
    <form class="send-command" aria-label="Send a command" ref={formRef} onSubmit={send}>
      <TextField label="Command name" value={name} onInput={setName} error={nameError} required />
      <TextAreaField
        label="Parameters (JSON, optional)"
        value={params}
        onInput={setParams}
        error={paramsError}
        hint='For example {"seconds": 5}'
        rows={3}
      />
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Send command
        </button>
      </div>
      <OutcomeNotice outcome={action.outcome} />
    </form>
  );
}
