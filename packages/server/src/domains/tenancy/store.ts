/** SQL for tenants. */
import type { Queryable } from '../../store/db.js';
import { mapUniqueViolation } from '../../store/db.js';
import type { Tenant, TenantSettingsPatch } from './tenancy.js';

interface TenantRow {
  id: string;
  name: string;
  created_at: number;
  require_totp: boolean;
  audit_retention_days: number | null;
}

const toTenant = (r: TenantRow): Tenant => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  requireTotp: r.require_totp,
  auditRetentionDays: r.audit_retention_days,
});

export function tenancyStore(db: Queryable) {
  return {
    async insertTenant(t: Tenant): Promise<Tenant> {
      await db
        .query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [t.id, t.name, t.createdAt])
        .catch((e) => mapUniqueViolation(e, `tenant '${t.name}'`));
      return t;
    },
    async listTenants(): Promise<Tenant[]> {
      return (await db.query<TenantRow>('SELECT * FROM tenants ORDER BY id')).map(toTenant);
    },
    async getTenant(id: string): Promise<Tenant | undefined> {
      const [r] = await db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id]);
      return r && toTenant(r);
    },
    async updateSettings(id: string, patch: TenantSettingsPatch): Promise<Tenant | undefined> {
      const [r] = await db.query<TenantRow>(
        `UPDATE tenants SET require_totp = coalesce($2, require_totp),
                audit_retention_days = CASE WHEN $3::boolean THEN $4::integer ELSE audit_retention_days END
          WHERE id = $1 RETURNING *`,
        [
          id,
          patch.requireTotp ?? null,
          patch.auditRetentionDays !== undefined,
          patch.auditRetentionDays ?? null,
        ],
      );
      return r && toTenant(r);
    },
  };
}
export type TenancyStore = ReturnType<typeof tenancyStore>;
