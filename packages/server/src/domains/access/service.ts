/** Custom roles per tenant, with a short cache for resolving grants on every authenticated request. */
import { AppError, Errors } from '../../errors.js';
import type { Queryable } from '../../store/db.js';
import { mapUniqueViolation } from '../../store/db.js';
import { checkPermissionNames } from './policy.js';
import {
  BUILT_IN_ROLES,
  type CustomRoleInput,
  type Permission,
  type RoleDefinition,
  type RoleService,
} from './access.js';

interface RoleRow {
  name: string;
  description: string;
  permissions: Permission[];
}

/**
 * How long a node may use a tenant's custom roles before reading them again. A change made on this
 * node applies at once; one made on another node within this time.
 */
const CACHE_MS = 5_000;

export function createRoleService(deps: { db: Queryable; now?: () => number }): RoleService {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { at: number; roles: Map<string, Permission[]> }>();

  function checkPermissions(permissions: readonly string[]) {
    if (permissions.length === 0)
      throw Errors.validation('a role needs at least one permission', [
        { path: '/permissions', message: 'empty' },
      ]);
    checkPermissionNames(permissions, '/permissions');
  }

  const toRole = (r: RoleRow): RoleDefinition => ({
    name: r.name,
    description: r.description,
    permissions: r.permissions,
    builtIn: false,
  });

  return {
    async list(caller) {
      const rows = await db.query<RoleRow>(
        'SELECT name, description, permissions FROM roles WHERE tenant_id = $1 ORDER BY name',
        [caller.tenantId],
      );
      return [...Object.values(BUILT_IN_ROLES), ...rows.map(toRole)];
    },
    async create(caller, input: CustomRoleInput) {
      if (BUILT_IN_ROLES[input.name]) throw Errors.alreadyExists(`built-in role '${input.name}'`);
      checkPermissions(input.permissions);
      const t = now();
      await db
        .query(
          'INSERT INTO roles (tenant_id, name, description, permissions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)',
          [caller.tenantId, input.name, input.description ?? '', input.permissions, t],
        )
        .catch((e) => mapUniqueViolation(e, `role '${input.name}'`));
      cache.delete(caller.tenantId);
      return toRole({
        name: input.name,
        description: input.description ?? '',
        permissions: input.permissions,
      });
    },
    async update(caller, name, input) {
      checkPermissions(input.permissions);
      const [r] = await db.query<RoleRow>(
        `UPDATE roles SET permissions = $3, description = coalesce($4, description), updated_at = $5
          WHERE tenant_id = $1 AND name = $2 RETURNING name, description, permissions`,
        [caller.tenantId, name, input.permissions, input.description ?? null, now()],
      );
      if (!r) throw new AppError('ROLE_NOT_FOUND', `no custom role '${name}'`);
      cache.delete(caller.tenantId);
      return toRole(r);
    },
    async delete(caller, name) {
      const rows = await db.query('DELETE FROM roles WHERE tenant_id = $1 AND name = $2 RETURNING name', [
        caller.tenantId,
        name,
      ]);
      if (rows.length === 0) throw new AppError('ROLE_NOT_FOUND', `no custom role '${name}'`);
      cache.delete(caller.tenantId);
    },
    async customPermissions(tenantId) {
      const hit = cache.get(tenantId);
      const t = now();
      if (hit && t - hit.at < CACHE_MS) return hit.roles;
      const rows = await db.query<RoleRow>(
        'SELECT name, description, permissions FROM roles WHERE tenant_id = $1',
        [tenantId],
      );
      const roles = new Map(rows.map((r) => [r.name, r.permissions]));
      cache.set(tenantId, { at: t, roles });
      return roles;
    },
  };
}
