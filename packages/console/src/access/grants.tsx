/**
 * Grants as the Access screen shows and edits them: a role (or a list of permissions) over the whole
 * tenant, the devices carrying a tag, or one device. The editor writes what the API takes
 * (`{role, scope}`); a grant of a permission list is kept as it is (it can be removed, not edited).
 * What may be handed on is the API's to decide: its refusal says what the caller lacks.
 */
import { useId } from 'preact/hooks';
import type { Grant, Role } from './api-access.js';
import { SelectField, TextField } from '../shared/ui.js';

type Scope = NonNullable<Grant['scope']>;

/** The tag or the device a scope names, if any. */
function scopeOf(scope: Grant['scope']): { tag?: string; deviceId?: string } {
  return (scope ?? {}) as { tag?: string; deviceId?: string };
}

function scopeText(scope: Grant['scope']): string {
  const { tag, deviceId } = scopeOf(scope);
  if (tag !== undefined) return `devices tagged ${tag}`;
  if (deviceId !== undefined) return `device ${deviceId}`;
  return 'the whole tenant';
}

/** A principal's grants, one per line. */
export function GrantList(props: { grants: readonly Grant[] }) {
  if (props.grants.length === 0) return <>none</>;
  return (
    <ul class="grants">
      {props.grants.map((g, i) => (
        <li key={i}>
          <strong>{g.role ?? (g.permissions ?? []).join(', ')}</strong> over {scopeText(g.scope)}
        </li>
      ))}
    </ul>
  );
}

/** One grant as the form holds it. */
export interface GrantDraft {
  role: string;
  /** A grant of permissions (not a role), kept as it came. */
  permissions?: Grant['permissions'];
  scope: 'tenant' | 'tag' | 'device';
  value: string;
}

/** What a new grant starts as: a viewer over the whole tenant. */
export const VIEWER: GrantDraft = { role: 'viewer', scope: 'tenant', value: '' };

export function draftOf(g: Grant): GrantDraft {
  const { tag, deviceId } = scopeOf(g.scope);
  return {
    role: g.role ?? '',
    ...(g.permissions ? { permissions: g.permissions } : {}),
    scope: tag !== undefined ? 'tag' : deviceId !== undefined ? 'device' : 'tenant',
    value: tag ?? deviceId ?? '',
  };
}

/** The grants to send; the server checks the roles, tags and devices. */
export function grantsOf(drafts: readonly GrantDraft[]): Grant[] {
  return drafts.map((d) => {
    const scope: Scope | undefined =
      d.scope === 'tag'
        ? { tag: d.value.trim() }
        : d.scope === 'device'
          ? { deviceId: d.value.trim() }
          : undefined;
    return {
      ...(d.permissions ? { permissions: d.permissions } : { role: d.role }),
      ...(scope ? { scope } : {}),
    };
  });
}

const SCOPES = [
  { value: 'tenant', label: 'The whole tenant' },
  { value: 'tag', label: 'Devices with a tag' },
  { value: 'device', label: 'One device' },
] as const;

/** Rows of role and scope; at least one grant. */
export function GrantsEditor(props: {
  roles: readonly Role[] | undefined;
  value: readonly GrantDraft[];
  onChange(value: GrantDraft[]): void;
  disabled?: boolean;
}) {
  const base = useId();
  const roles = props.roles ?? [];
  const set = (i: number, patch: Partial<GrantDraft>) =>
    props.onChange(props.value.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  return (
    <div class="grant-rows">
      {props.value.map((d, i) => {
        // A role the list does not hold (deleted, or the roles could not be read) stays choosable.
        const options = roles.map((r) => ({
          value: r.name,
          label: r.builtIn ? r.name : `${r.name} (custom)`,
        }));
        if (!d.permissions && d.role && !roles.some((r) => r.name === d.role))
          options.push({ value: d.role, label: d.role });
        return (
          <fieldset key={i} class="grant-row" disabled={props.disabled ?? false}>
            <legend id={`${base}-${i}`}>Grant {i + 1}</legend>
            {d.permissions ? (
              <p>
                Permissions: <strong>{d.permissions.join(', ')}</strong>
              </p>
            ) : (
              <SelectField
                label="Role"
                value={d.role}
                options={options}
                onChange={(role) => set(i, { role })}
              />
            )}
            <SelectField
              label="Over"
              value={d.scope}
              options={SCOPES}
              onChange={(scope) => set(i, { scope })}
            />
            {d.scope !== 'tenant' && (
              <TextField
                label={d.scope === 'tag' ? 'Tag' : 'Device id'}
                hint={
                  d.scope === 'tag'
                    ? 'Only the permissions that act on a device apply over a tag.'
                    : 'Only the permissions that act on a device apply over one device.'
                }
                value={d.value}
                onInput={(value) => set(i, { value })}
                required
              />
            )}
            {props.value.length > 1 && (
              <button
                type="button"
                aria-describedby={`${base}-${i}`}
                onClick={() => props.onChange(props.value.filter((_, j) => j !== i))}
              >
                Remove grant {i + 1}
              </button>
            )}
          </fieldset>
        );
      })}
      <button
        type="button"
        disabled={props.disabled ?? false}
        onClick={() =>
          props.onChange([...props.value, { role: roles[0]?.name ?? 'viewer', scope: 'tenant', value: '' }])
        }
      >
        Add a grant
      </button>
    </div>
  );
}
