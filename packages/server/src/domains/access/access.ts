/**
 * Access control: permissions named by resource and action, built-in and custom roles made of them,
 * and grants that give a role (or a list of permissions) to a user or an API key over the whole tenant,
 * the devices with one tag, or one device. Everything not granted is denied. The contract; `policy.ts`
 * decides, `guard.ts` enforces around the domain services, `rules.ts` says what each service method
 * needs.
 */
import { PERMISSIONS } from '@mooring/protocol';
import type { TenantCaller } from '../../platform/caller.js';

/** Every permission, with what it allows: defined in `@mooring/protocol`, where the API's schemas name them. */
export { PERMISSIONS };

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

/**
 * Permissions that act on one device and can therefore be granted over a tag or a device. A scoped
 * grant carries only these; everything else needs a tenant-wide grant.
 */
export const DEVICE_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>([
  'devices:read',
  'devices:write',
  'devices:delete',
  'devices:credentials',
  'devices:command',
  'config:write',
  'telemetry:read',
  'alerts:read',
  'certificates:read',
  'ownership:transfer',
]);

export interface RoleDefinition {
  name: string;
  description: string;
  permissions: Permission[];
  builtIn: boolean;
}

const except = (...omit: Permission[]) => ALL_PERMISSIONS.filter((p) => !omit.includes(p));

export const BUILT_IN_ROLES: Record<string, RoleDefinition> = Object.fromEntries(
  (
    [
      ['owner', 'everything, including the tenant security settings', ALL_PERMISSIONS],
      ['admin', 'everything except the tenant security settings', except('tenant:manage')],
      [
        'operator',
        'runs the fleet: devices, commands, telemetry, alerts, firmware deployments; reads provisioning and certificates',
        [
          'tenant:read',
          'devices:read',
          'devices:write',
          'devices:command',
          'config:write',
          'telemetry:read',
          'alerts:read',
          'alerts:manage',
          'firmware:read',
          'firmware:deploy',
          'provisioning:read',
          'certificates:read',
          'integrations:read',
        ],
      ],
      [
        'technician',
        'approves provisioning in the field and reads nothing private',
        ['provisioning:read', 'provisioning:approve'],
      ],
      [
        'viewer',
        'reads devices, telemetry, alerts, provisioning and certificates',
        [
          'tenant:read',
          'devices:read',
          'telemetry:read',
          'alerts:read',
          'provisioning:read',
          'certificates:read',
        ],
      ],
      [
        'auditor',
        'reads the audit trail, users, keys and certificates',
        ['tenant:read', 'audit:read', 'users:read', 'keys:read', 'certificates:read'],
      ],
      [
        'factory',
        'a production line: provisioning tokens and bulk batches',
        ['provisioning:read', 'provisioning:manage', 'factory:provision'],
      ],
    ] as [string, string, Permission[]][]
  ).map(([name, description, permissions]) => [name, { name, description, permissions, builtIn: true }]),
);

/** Where a grant applies: the whole tenant, the devices carrying a tag, or one device. */
export type GrantScope = { tag: string } | { deviceId: string } | Record<string, never>;

/** A grant as stored and as sent over the API: a role or a list of permissions, over a scope. */
export interface Grant {
  role?: string;
  permissions?: Permission[];
  scope?: GrantScope;
}

export interface CustomRoleInput {
  name: string;
  description?: string;
  permissions: Permission[];
}

export interface RoleService {
  /** Built-in roles first, then the tenant's custom roles. */
  list(caller: TenantCaller): Promise<RoleDefinition[]>;
  /** A custom role; its name may not be a built-in one. */
  create(caller: TenantCaller, input: CustomRoleInput): Promise<RoleDefinition>;
  /** Changes a custom role; every grant of it changes with it at the holder's next request. */
  update(caller: TenantCaller, name: string, input: Omit<CustomRoleInput, 'name'>): Promise<RoleDefinition>;
  /** Deletes a custom role; grants naming it grant nothing from then on. */
  delete(caller: TenantCaller, name: string): Promise<void>;
  /**
   * The tenant's custom roles as name → permissions, for resolving grants: from a short per-node
   * cache, or `fresh` from the store (delegation decisions, which must not act on a role another
   * node has just changed).
   */
  customPermissions(tenantId: string, fresh?: boolean): Promise<Map<string, Permission[]>>;
}

/** The permission and built-in role tables of `docs/access-control.md` (kept in step by a test). */
export function renderAccessTables(): string {
  const perms = ALL_PERMISSIONS.map(
    (p) => `| \`${p}\` | ${PERMISSIONS[p]} | ${DEVICE_PERMISSIONS.has(p) ? 'yes' : ''} |`,
  );
  const roles = Object.values(BUILT_IN_ROLES).map(
    (r) =>
      `| \`${r.name}\` | ${r.description} | ${r.permissions.length === ALL_PERMISSIONS.length ? 'all' : r.permissions.map((p) => `\`${p}\``).join(', ')} |`,
  );
  return [
    '| permission | allows | scopable to a tag or device |',
    '|---|---|---|',
    ...perms,
    '',
    '| role | for | permissions |',
    '|---|---|---|',
    ...roles,
  ].join('\n');
}
