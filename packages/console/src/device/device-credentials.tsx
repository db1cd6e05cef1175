/**
 * A device's credentials on its page: its certificates (`GET …/certificates`: serial, state, validity)
 * each with Revoke (`POST /v1/certificates/{serial}/revoke`); its access keys (`GET …/access-keys`),
 * a new one whose secret is shown once, and Revoke (`DELETE …/access-keys/{keyId}`); and Revoke of
 * every registration token it holds (`POST …/registration-tokens/revoke`). A revocation cannot be
 * undone and drops the device's sessions that used the credential, so each asks first.
 */
import { useState } from 'preact/hooks';
import { Confirm, OutcomeNotice, SecretOnce, useAction, type SessionOver } from '../shared/actions.js';
import { when } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { Notice } from '../shared/ui.js';
import { deviceApi, type AccessKey, type Certificate, type NewAccessKey } from './device-api.js';

interface Props {
  deviceId: string;
  generation: number;
  sessionOver: SessionOver;
}

export function DeviceCredentials(props: Props) {
  const [tick, setTick] = useState(0);
  const again = () => setTick((n) => n + 1);
  const inner = { ...props, generation: props.generation + tick, onChanged: again };
  return (
    <>
      <h3>Certificates</h3>
      <Certificates {...inner} />
      <h3>Access keys</h3>
      <AccessKeys {...inner} />
      <h3>Registration tokens</h3>
      <RegistrationTokens {...inner} />
    </>
  );
}

function certificateState(c: Certificate, now: number): { text: string; look: string } {
  if (c.revokedAt !== null) return { text: 'revoked', look: 'bad' };
  if (c.pending) return { text: 'pending approval', look: 'warn' };
  if (c.notAfter < now) return { text: 'expired', look: 'off' };
  if (c.notBefore > now) return { text: 'not valid yet', look: 'warn' };
  return { text: 'valid', look: 'ok' };
}

function Certificates(props: Props & { onChanged(): void }) {
  const [certs, setCerts] = useState<Certificate[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const action = useAction(props.sessionOver);
  useApiRead(
    () => deviceApi.listCertificates(props.deviceId),
    (r) => setCerts(r.items),
    [props.deviceId, props.generation],
    { sessionOver: props.sessionOver, setError },
  );
  const now = Date.now();
  const revoke = (c: Certificate) =>
    action.run(async () => {
      await deviceApi.revokeCertificate(c.serial, 'revoked from the console');
      props.onChanged();
      return `Revoked certificate ${c.serial}: the device's sessions that used it were closed.`;
    });
  return (
    <>
      {error && <Notice kind="error">{error}</Notice>}
      <OutcomeNotice outcome={action.outcome} focus />
      {certs && certs.length === 0 && <p class="empty">The device has no certificate.</p>}
      {certs && certs.length > 0 && (
        <ul class="cards" aria-label="Certificates">
          {certs.map((c) => {
            const state = certificateState(c, now);
            return (
              <li key={c.serial}>
                <article class="card-item" aria-label={`Certificate ${c.serial}`}>
                  <h4>
                    <code>{c.serial}</code> <span class={`badge ${state.look}`}>{state.text}</span>
                  </h4>
                  <dl>
                    <dt>Valid</dt>
                    <dd>
                      {when(c.notBefore)} to {when(c.notAfter)}
                    </dd>
                    <dt>Fingerprint</dt>
                    <dd>
                      <code class="wrap">{c.fingerprint}</code>
                    </dd>
                    {c.revokedAt !== null && (
                      <>
                        <dt>Revoked</dt>
                        <dd>
                          {when(c.revokedAt)}
                          {c.revocationReason && ` · ${c.revocationReason}`}
                        </dd>
                      </>
                    )}
                  </dl>
                  {c.revokedAt === null && (
                    <div class="actions">
                      <Confirm
                        label="Revoke…"
                        question={`Revoke certificate ${c.serial}? The device can no longer connect with it, its sessions that use it are closed, and this cannot be undone.`}
                        confirmLabel={`Revoke certificate ${c.serial}`}
                        busy={action.busy}
                        danger
                        onConfirm={() => revoke(c)}
                      />
                    </div>
                  )}
                </article>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

function AccessKeys(props: Props & { onChanged(): void }) {
  const [keys, setKeys] = useState<AccessKey[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [created, setCreated] = useState<NewAccessKey | undefined>(undefined);
  const action = useAction(props.sessionOver);
  useApiRead(
    () => deviceApi.listAccessKeys(props.deviceId),
    (r) => setKeys(r.items),
    [props.deviceId, props.generation],
    { sessionOver: props.sessionOver, setError },
  );
  const create = () =>
    void action.run(async () => {
      setCreated(await deviceApi.createAccessKey(props.deviceId));
      props.onChanged();
      return undefined;
    });
  const revoke = (k: AccessKey) =>
    action.run(async () => {
      await deviceApi.revokeAccessKey(props.deviceId, k.id);
      props.onChanged();
      return `Revoked access key ${k.prefix}…: the device's sessions that used it were closed.`;
    });
  return (
    <>
      {error && <Notice kind="error">{error}</Notice>}
      {created && (
        <SecretOnce
          label={`Access key ${created.accessKey.prefix}`}
          secret={created.secret}
          onDone={() => setCreated(undefined)}
        >
          <p class="hint">
            The device connects with its id as the MQTT user name and this key as the password.
          </p>
        </SecretOnce>
      )}
      <OutcomeNotice outcome={action.outcome} focus />
      {keys && keys.length === 0 && <p class="empty">The device has no access key.</p>}
      {keys && keys.length > 0 && (
        <table class="keys">
          <caption class="visually-hidden">Access keys</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row">
                  <code>{k.prefix}…</code>
                </th>
                <td>{when(k.createdAt)}</td>
                <td>{k.lastUsedAt === null ? 'never' : when(k.lastUsedAt)}</td>
                <td>
                  {k.revokedAt !== null ? (
                    <span class="badge bad">revoked {when(k.revokedAt)}</span>
                  ) : (
                    <Confirm
                      label={`Revoke ${k.prefix}…`}
                      question={`Revoke access key ${k.prefix}…? The device can no longer connect with it and its sessions that use it are closed.`}
                      confirmLabel={`Revoke access key ${k.prefix}`}
                      busy={action.busy}
                      danger
                      onConfirm={() => revoke(k)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p>
        <button type="button" disabled={action.busy} onClick={create}>
          New access key
        </button>
      </p>
    </>
  );
}

function RegistrationTokens(props: Props) {
  const action = useAction(props.sessionOver);
  return (
    <>
      <p class="hint">
        A device that provisioned itself holds a registration token. Revoking closes its sessions that use
        one; it connects again only after provisioning anew.
      </p>
      <OutcomeNotice outcome={action.outcome} focus />
      <Confirm
        label="Revoke registration tokens…"
        question="Revoke every registration token of this device? Its sessions that use one are closed."
        confirmLabel="Revoke the registration tokens"
        busy={action.busy}
        danger
        onConfirm={() =>
          action.run(async () => {
            await deviceApi.revokeRegistrationTokens(props.deviceId);
            return 'Revoked the registration tokens of this device.';
          })
        }
      />
    </>
  );
}
