/** SQL for a tenant's custom roles. */
import type { Queryable } from '../../store/db.js';
import { mapUniqueViolation } from '../../store/db.js';
import type { Grant, Permission } from './access.js';

export interface RoleRow {
  name: string;
  description: string;
  permissions: Permission[];
}

export interface DefinedRoleRow extends RoleRow {
  /** What whoever last defined the role held then; null for roles older than this record. */
  definer_grants: Grant[] | null;
}

export function roleStore(db: Queryable) {
  return {
    async list(tenantId: string): Promise<RoleRow[]> {
      return db.query<RoleRow>(
        'SELECT name, description, permissions FROM roles WHERE tenant_id = $1 ORDER BY name',
        [tenantId],
      );
    },
    /** The tenant's roles, for resolving grants (no order). */
    async permissions(tenantId: string): Promise<RoleRow[]> {
      return db.query<RoleRow>('SELECT name, description, permissions FROM roles WHERE tenant_id = $1', [
        tenantId,
      ]);
    },
    async insert(r: {
      tenantId: string;
      name: string;
      description: string;
      permissions: string[];
      definedBy: string;
      definerGrants: Grant[];
      at: number;
    }): Promise<void> {
      await db
        .query(
          `INSERT INTO roles (tenant_id, name, description, permissions, defined_by, definer_grants, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
          [
            r.tenantId,
            r.name,
            r.description,
            r.permissions,
            r.definedBy,
            JSON.stringify(r.definerGrants),
            r.at,
          ],
        )
        .catch((e) => mapUniqueViolation(e, `role '${r.name}'`));
    },
    /** Reads a role and locks its row for the rest of the transaction. */
    async lock(tenantId: string, name: string): Promise<DefinedRoleRow | undefined> {
      const [row] = await db.query<DefinedRoleRow>(
        `SELECT name, description, permissions, definer_grants FROM roles
          WHERE tenant_id = $1 AND name = $2 FOR UPDATE`,
        [tenantId, name],
      );
      return row;
    },
    async update(r: {
      tenantId: string;
      name: string;
      permissions: string[];
      description: string | null;
      definedBy: string;
      definerGrants: Grant[];
      at: number;
    }): Promise<RoleRow> {
      const [row] = await db.query<RoleRow>(
        `UPDATE roles SET permissions = $3, description = coalesce($4, description), defined_by = $5,
                definer_grants = $6, updated_at = $7
          WHERE tenant_id = $1 AND name = $2 RETURNING name, description, permissions`,
        [
          r.tenantId,
          r.name,
          r.permissions,
          r.description,
          r.definedBy,
          JSON.stringify(r.definerGrants),
          r.at,
        ],
      );
      return row!;
    },
    async delete(tenantId: string, name: string): Promise<void> {
      await db.query('DELETE FROM roles WHERE tenant_id = $1 AND name = $2', [tenantId, name]);
    },
  };
}
export type RoleStore = ReturnType<typeof roleStore>;
