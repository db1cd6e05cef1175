/**
 * The technician's screen: the tenant's provisioning operations waiting for a person, each with the
 * field for the code the device shows, Approve and Reject. Wrong codes say how many attempts are
 * left and when the operation has locked; a provisioning token the platform flagged as used the way
 * no firmware uses it is marked suspicious. Made for a phone held next to the device.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ConfirmPanel, refusalText, type SessionOver } from '../shared/actions.js';
import { ApiProblem, api, type Operation, type ProvisioningToken } from '../shared/api.js';
import { decisionText, when } from '../shared/messages.js';
import { Instant, Notice, ScreenTitle, TextField } from '../shared/ui.js';

const REFRESH_MS = 10_000;

interface Loaded {
  items: Operation[];
  nextCursor: string | null;
  /** The tenant's provisioning tokens by id; empty when the caller may not list them. */
  tokens: ReadonlyMap<string, ProvisioningToken>;
}

export function Approvals(props: { sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const [loaded, setLoaded] = useState<Loaded | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(false);

  /** More than the first page is shown: a quiet refresh would drop the rest, so it waits. */
  const extended = useRef(false);
  /** The latest read: an answer to an earlier one (a quiet refresh overtaken by Show more) is dropped. */
  const latest = useRef(0);

  /** Reads the first page again (or the next one, `more`); `quiet`: the periodic read, unannounced. */
  async function load(more = false, quiet = false) {
    const read = ++latest.current;
    // From the moment Show more is asked, the periodic read waits (it would replace what it adds).
    if (more) extended.current = true;
    if (!quiet) setLoading(true);
    setError(undefined);
    try {
      const [page, tokens] = await Promise.all([
        api.listOperations(more ? (loaded?.nextCursor ?? undefined) : undefined),
        // A flag on the token is worth showing, not worth failing the list for.
        api.listProvisioningTokens().then(
          (r) => new Map(r.items.map((t) => [t.id, t])),
          (e: unknown) => {
            if (e instanceof ApiProblem && e.status === 403) return new Map<string, ProvisioningToken>();
            throw e;
          },
        ),
      ]);
      if (read !== latest.current) return;
      extended.current = more;
      setLoaded((l) => ({
        items: more && l ? [...l.items, ...page.items] : page.items,
        nextCursor: page.nextCursor,
        tokens,
      }));
    } catch (e) {
      if (read !== latest.current) return;
      if (more) extended.current = false;
      setError(refusalText(e, sessionOver));
    } finally {
      if (!quiet) setLoading(false);
    }
  }

  useEffect(() => {
    void load();
    // A device that starts provisioning shows up without a Refresh: the list is read again every
    // 10 s while the page is in view (a typed code stays: each card keeps its own state).
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible' && !extended.current) void load(false, true);
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  function decided(operation: Operation, message: string) {
    setDone(message);
    setLoaded((l) => l && { ...l, items: l.items.filter((o) => o.id !== operation.id) });
  }

  const now = Date.now();
  return (
    <section class="approvals" aria-busy={loading}>
      <ScreenTitle onRefresh={() => void load()} refreshing={loading}>
        Devices waiting for approval
      </ScreenTitle>
      <p class="lead">
        Approve a device only when you can see it: type the code on its display. Wrong codes are counted;
        after a few the operation locks and the device has to start again with a new code.
      </p>
      {done && (
        <Notice kind="success" focus key={done}>
          {done}
        </Notice>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      {loaded && loaded.items.length === 0 && !error && (
        <p class="empty">No device is waiting for approval.</p>
      )}
      {loaded && loaded.items.length > 0 && (
        <ul class="cards">
          {loaded.items.map((op) => (
            <li key={op.id}>
              <OperationCard
                operation={op}
                token={loaded.tokens.get(op.tokenId)}
                now={now}
                onDecided={(message) => decided(op, message)}
                sessionOver={sessionOver}
              />
            </li>
          ))}
        </ul>
      )}
      {loaded?.nextCursor && (
        <button type="button" onClick={() => void load(true)} disabled={loading}>
          Show more
        </button>
      )}
    </section>
  );
}

function OperationCard(props: {
  operation: Operation;
  token: ProvisioningToken | undefined;
  now: number;
  onDecided(message: string): void;
  sessionOver: SessionOver;
}) {
  const op = props.operation;
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [rejecting, setRejecting] = useState(false);
  /** Locked by the last wrong code, or decided elsewhere meanwhile: nothing more to do here. */
  const [closed, setClosed] = useState(false);
  const [wrong, setWrong] = useState(op.wrongCodeAttempts);
  const codeRef = useRef<HTMLInputElement>(null);
  const headingId = `op-${op.id}`;

  async function decide(action: () => Promise<string>) {
    setBusy(true);
    setError(undefined);
    try {
      props.onDecided(await action());
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (props.sessionOver(e)) return;
      setError(decisionText(e));
      if (e.code === 'VERIFICATION_CODE_WRONG') {
        setWrong((n) => n + 1);
        setCode('');
        if (e.number('attemptsLeft') === 0) setClosed(true);
        else codeRef.current?.focus();
      }
      if (e.code === 'OPERATION_NOT_PENDING' || e.code === 'OPERATION_NOT_FOUND') setClosed(true);
    } finally {
      setBusy(false);
    }
  }

  function approve(event: Event) {
    event.preventDefault();
    const body = op.hasVerificationCode ? { verificationCode: code.trim().toUpperCase() } : {};
    void decide(async () => {
      const r = await api.approveOperation(op.id, body);
      return `Approved ${op.serial}: it is device ${r.deviceId ?? ''} now, and picks up its credentials.`;
    });
  }

  function reject() {
    void decide(async () => {
      await api.rejectOperation(op.id, {});
      return `Rejected ${op.serial}: the device is told.`;
    });
  }

  const suspicious = props.token?.suspicious;
  const attributes = Object.keys(op.attributes).length > 0 ? JSON.stringify(op.attributes) : undefined;
  return (
    <article class="card-item" aria-labelledby={headingId}>
      <h2 id={headingId}>
        <span class="label">Serial</span> {op.serial}
      </h2>
      <div class="badges">
        {suspicious && <span class="badge warn">Suspicious token</span>}
        {op.reprovision && <span class="badge">Already a device</span>}
        {!op.hasVerificationCode && <span class="badge">No code on the device</span>}
      </div>
      <dl>
        <dt>Waiting since</dt>
        <dd>
          <Instant at={op.createdAt} now={props.now} />
        </dd>
        <dt>Waits until</dt>
        <dd>{when(op.expiresAt)}</dd>
        <dt>Provisioning token</dt>
        <dd>{props.token ? `${props.token.name} (${props.token.prefix}…)` : op.tokenId}</dd>
        {suspicious && (
          <>
            <dt>Why suspicious</dt>
            <dd class="warn-text">
              {suspicious.reason} ({when(suspicious.at)}). Check that this is a unit you expect before
              approving.
            </dd>
          </>
        )}
        {op.reprovision && (
          <>
            <dt>Re-provisioning</dt>
            <dd>
              This serial is a device already: approving gives the unit new credentials and ends the old ones.
            </dd>
          </>
        )}
        {attributes && (
          <>
            <dt>The device says</dt>
            <dd>
              <code class="attributes">{attributes}</code>
            </dd>
          </>
        )}
        {op.hasVerificationCode && wrong > 0 && (
          <>
            <dt>Wrong codes so far</dt>
            <dd>{wrong}</dd>
          </>
        )}
      </dl>
      {closed ? (
        error && <Notice kind="error">{error}</Notice>
      ) : !rejecting ? (
        <form onSubmit={approve} class="decide">
          {op.hasVerificationCode ? (
            <TextField
              label="Code shown on the device"
              hint="4 to 12 letters and digits; case does not matter."
              value={code}
              onInput={setCode}
              autocapitalize="characters"
              required
              maxLength={12}
              inputRef={codeRef}
              error={error}
            />
          ) : (
            <>
              <p class="hint">This device shows no code: check its serial on the label before approving.</p>
              {error && <Notice kind="error">{error}</Notice>}
            </>
          )}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {op.hasVerificationCode ? 'Approve' : 'Approve without a code'}
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => setRejecting(true)}>
              Reject…
            </button>
          </div>
        </form>
      ) : (
        <ConfirmPanel
          name={`Reject ${op.serial}`}
          question={`Reject ${op.serial}? The device is told and must start again to be approved later.`}
          confirmLabel={`Reject ${op.serial}`}
          danger
          busy={busy}
          onConfirm={reject}
          onCancel={() => setRejecting(false)}
        >
          {error && <Notice kind="error">{error}</Notice>}
        </ConfirmPanel>
      )}
    </article>
  );
}
