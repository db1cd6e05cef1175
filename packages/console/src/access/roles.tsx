/**
 * The roles a grant can name (`GET /v1/roles`): the built-in ones, then the tenant's custom ones,
 * each with its permissions. Custom roles are defined with the API or the command line.
 */
import type { Role } from './api-access.js';
import { Notice } from '../shared/ui.js';

export function Roles(props: { roles: readonly Role[] | undefined; error: string | undefined }) {
  return (
    <section class="panel" aria-labelledby="access-roles">
      <h2 id="access-roles">Roles</h2>
      {props.error && <Notice kind="error">{props.error}</Notice>}
      {props.roles && (
        <ul class="cards roles">
          {props.roles.map((r) => (
            <li key={r.name} class="card-item" aria-label={`Role ${r.name}`}>
              <h3>
                {r.name}{' '}
                <span class={`badge ${r.builtIn ? 'off' : ''}`}>{r.builtIn ? 'built-in' : 'custom'}</span>
              </h3>
              {r.description && <p>{r.description}</p>}
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
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
