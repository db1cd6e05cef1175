import { Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import type { TenancyStore } from './store.js';
import type { TenancyService } from './tenancy.js';

export function createTenancyService(deps: { store: TenancyStore; now?: () => number }): TenancyService {
  const { store } = deps;
  const now = deps.now ?? Date.now;

  async function require(id: string) {
    const t = await store.getTenant(id);
    if (!t) throw Errors.tenantNotFound(id);
    return t;
  }

  return {
    createTenant: (_caller, name) =>
      store.insertTenant({
        id: newId('ten'),
        name,
        createdAt: now(),
        requireTotp: false,
        auditRetentionDays: null,
      }),
    listTenants: () => store.listTenants(),
    getTenant: (_caller, id) => require(id),
    current: (caller) => require(caller.tenantId),
    async updateSettings(caller, patch) {
      const t = await store.updateSettings(caller.tenantId, patch);
      if (!t) throw Errors.tenantNotFound(caller.tenantId);
      return t;
    },
    require,
  };
}
