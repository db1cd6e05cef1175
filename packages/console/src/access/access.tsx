/**
 * The Access screen (`/console/access`): who may do what in the tenant. Its users with their grants,
 * the invitations that add users, the API keys of its programs, and the roles a grant can name (its
 * custom roles created, changed and deleted here).
 * Everything is the REST API's: each part reads what it shows, and a change the caller may not make
 * is refused by the API and said with its code (a user handing on more than it holds is told what it
 * lacks).
 */
import { useState } from 'preact/hooks';
import { accessApi, type Role } from './api-access.js';
import type { SessionOver } from '../shared/actions.js';
import type { Me } from '../shared/api.js';
import { ApiKeys } from './api-keys.js';
import { Invitations } from './invitations.js';
import { useApiRead } from '../shared/read.js';
import { Roles } from './roles.js';
import { ScreenTitle } from '../shared/ui.js';
import { Users } from './users.js';

export function Access(props: { me: Me; sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const [roles, setRoles] = useState<Role[] | undefined>(undefined);
  const [rolesError, setRolesError] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  useApiRead(accessApi.listRoles, (r) => setRoles(r.items), [generation], {
    sessionOver,
    setError: setRolesError,
  });
  return (
    <section class="access wide">
      <ScreenTitle onRefresh={() => setGeneration((g) => g + 1)}>Access</ScreenTitle>
      <Users roles={roles} meId={props.me.user.id} generation={generation} sessionOver={sessionOver} />
      <Invitations key={`i${generation}`} roles={roles} sessionOver={sessionOver} />
      <ApiKeys key={`k${generation}`} roles={roles} sessionOver={sessionOver} />
      <Roles
        roles={roles}
        error={rolesError}
        sessionOver={sessionOver}
        onChanged={() => setGeneration((g) => g + 1)}
      />
    </section>
  );
}
