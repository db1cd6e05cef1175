/**
 * The roles a grant can name (`GET /v1/roles`): the built-in ones, then the tenant's custom ones,
 * each with its permissions. Custom roles are created, changed and deleted here (`POST /v1/roles`,
 * `PUT` and `DELETE /v1/roles/{name}`), their permissions chosen from a checkbox list grouped by
 * domain. The permissions offered are the catalogue as the API answers it: the built-in `owner` role
 * holds every permission. Nobody defines, widens or deletes a role beyond what they hold: the API
 * refuses with FORBIDDEN and the permissions lacking, said here as it answers.
 */
import { useId, useState } from 'preact/hooks';
import { accessApi, type Permission, type Role } from './api-access.js';
import { Confirm, FormCard, OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { Notice, TextField } from '../shared/ui.js';

/** Every permission the API knows, in its order: the union of the roles' (the owner holds them all). */
export function permissionCatalogue(roles: readonly Role[]): Permission[] {
  return [...new Set(roles.flatMap((r) => r.permissions))];
}

/** The permissions grouped by their domain (`devices:read` is of `devices`), in their order. */
export function byDomain(permissions: readonly Permission[]): [string, Permission[]][] {
  const groups = new Map<string, Permission[]>();
  for (const p of permissions) {
    const domain = p.slice(0, p.indexOf(':'));
    groups.set(domain, [...(groups.get(domain) ?? []), p]);
  }
  return [...groups];
}

interface RoleDraft {
  name: string;
  description: string;
  permissions: Permission[];
}
const EMPTY: RoleDraft = { name: '', description: '', permissions: [] };

export function Roles(props: {
  roles: readonly Role[] | undefined;
  error: string | undefined;
  sessionOver: SessionOver;
  /** Reads the roles again after a change. */
  onChanged(): void;
}) {
  const action = useAction(props.sessionOver);
  const [creating, setCreating] = useState(false);
  const [draft, setDraft] = useState<RoleDraft>(EMPTY);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const catalogue = permissionCatalogue(props.roles ?? []);

  function create() {
    if (draft.permissions.length === 0) return action.refuse('Choose at least one permission.');
    void action
      .run(async () => {
        const r = await accessApi.createRole({
          name: draft.name.trim(),
          permissions: draft.permissions,
          ...(draft.description.trim() ? { description: draft.description.trim() } : {}),
        });
        props.onChanged();
        return `The role ${r.name} is created.`;
      })
      .then((made) => {
        if (made) {
          setCreating(false);
          setDraft(EMPTY);
        }
      });
  }

  return (
    <section class="panel" aria-labelledby="access-roles">
      <h2 id="access-roles">Roles</h2>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <FormCard
        label="New custom role"
        openLabel="New custom role…"
        submitLabel="Create the role"
        open={creating}
        onOpen={(open) => {
          setCreating(open);
          action.setOutcome(undefined);
        }}
        busy={action.busy}
        outcome={action.outcome}
        onSubmit={create}
      >
        <TextField
          label="Name"
          hint="Lower-case letters, digits, _ and -, starting with a letter (at most 64)."
          value={draft.name}
          onInput={(name) => setDraft((d) => ({ ...d, name }))}
          maxLength={64}
          required
        />
        <RoleFields
          draft={draft}
          catalogue={catalogue}
          disabled={action.busy}
          onChange={(patch) => setDraft((d) => ({ ...d, ...patch }))}
        />
      </FormCard>
      {!creating && editing === undefined && <OutcomeNotice outcome={action.outcome} focus />}
      {props.roles && (
        <ul class="cards roles">
          {props.roles.map((r) => (
            <li key={r.name} class="card-item" aria-label={`Role ${r.name}`}>
              <h3>
                {r.name}{' '}
                <span class={`badge ${r.builtIn ? 'off' : ''}`}>{r.builtIn ? 'built-in' : 'custom'}</span>
              </h3>
              {r.description && <p>{r.description}</p>}
              {editing === r.name ? (
                <EditRole
                  role={r}
                  catalogue={catalogue}
                  sessionOver={props.sessionOver}
                  onDone={(changed) => {
                    setEditing(undefined);
                    if (changed) {
                      action.setOutcome({ kind: 'success', text: `The role ${r.name} is changed.` });
                      props.onChanged();
                    }
                  }}
                />
              ) : (
                <>
                  <details>
                    <summary>{r.permissions.length} permissions</summary>
                    <ul class="permissions">
                      {r.permissions.map((p) => (
                        <li key={p}>
                          <code>{p}</code>
                        </li>
                      ))}
                    </ul>
                  </details>
                  {!r.builtIn && (
                    <div class="actions">
                      <button
                        type="button"
                        disabled={action.busy}
                        onClick={() => {
                          action.setOutcome(undefined);
                          setEditing(r.name);
                        }}
                      >
                        Edit…
                      </button>
                      <Confirm
                        label="Delete…"
                        confirmLabel={`Delete the role ${r.name}`}
                        question={`Delete the role ${r.name}? Users, invitations and API keys granted it keep the grant, but it holds nothing from then on.`}
                        busy={action.busy}
                        danger
                        onConfirm={() =>
                          action.run(async () => {
                            await accessApi.deleteRole(r.name);
                            props.onChanged();
                            return `The role ${r.name} is deleted.`;
                          })
                        }
                      />
                    </div>
                  )}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A custom role's form in its card: its description and permissions, saved with PUT. */
function EditRole(props: {
  role: Role;
  catalogue: Permission[];
  sessionOver: SessionOver;
  onDone(changed: boolean): void;
}) {
  const action = useAction(props.sessionOver);
  const [draft, setDraft] = useState<RoleDraft>({
    name: props.role.name,
    description: props.role.description,
    permissions: props.role.permissions,
  });
  function save() {
    if (draft.permissions.length === 0) return action.refuse('Choose at least one permission.');
    void action
      .run(async () => {
        await accessApi.updateRole(props.role.name, {
          description: draft.description.trim(),
          permissions: draft.permissions,
        });
        return undefined;
      })
      .then((made) => made && props.onDone(true));
  }
  return (
    <FormCard
      label={`Change the role ${props.role.name}`}
      openLabel="Edit…"
      submitLabel="Save the role"
      open
      onOpen={(open) => !open && props.onDone(false)}
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={save}
    >
      <RoleFields
        draft={draft}
        catalogue={props.catalogue}
        disabled={action.busy}
        onChange={(patch) => setDraft((d) => ({ ...d, ...patch }))}
      />
    </FormCard>
  );
}

/** A role's description and its permissions: a checkbox each, grouped by domain. */
function RoleFields(props: {
  draft: RoleDraft;
  catalogue: Permission[];
  disabled: boolean;
  onChange(patch: Partial<RoleDraft>): void;
}) {
  const id = useId();
  const chosen = new Set(props.draft.permissions);
  // Kept in the catalogue's order, whatever order they were ticked in.
  const toggle = (p: Permission, on: boolean) =>
    props.onChange({
      permissions: props.catalogue.filter((c) => (c === p ? on : chosen.has(c))),
    });
  return (
    <>
      <TextField
        label="Description"
        hint="What the role is for (optional, at most 256 characters)."
        value={props.draft.description}
        onInput={(description) => props.onChange({ description })}
        maxLength={256}
      />
      <fieldset class="permission-list">
        <legend>Permissions</legend>
        {byDomain(props.catalogue).map(([domain, permissions]) => (
          <fieldset key={domain} class="permission-group">
            <legend>{domain}</legend>
            {permissions.map((p) => (
              <div key={p} class="check">
                <input
                  type="checkbox"
                  id={`${id}-${p}`}
                  checked={chosen.has(p)}
                  disabled={props.disabled}
                  onChange={(e) => toggle(p, (e.currentTarget as HTMLInputElement).checked)}
                />
                <label for={`${id}-${p}`}>
                  <code>{p}</code>
                </label>
              </div>
            ))}
          </fieldset>
        ))}
      </fieldset>
    </>
  );
}
