/**
 * Who is calling. Every service method takes its caller explicitly; nothing reads the tenant from
 * ambient state, and every tenant-scoped query filters on `caller.tenantId`.
 */
export type Principal =
  | { kind: 'platform-admin'; userId: string }
  | { kind: 'user'; userId: string; tenantId: string }
  | { kind: 'api-key'; keyId: string; tenantId: string }
  | { kind: 'device'; deviceId: string; tenantId: string };

/** A caller acting inside one tenant. */
export interface TenantCaller {
  readonly tenantId: string;
  readonly principal: Principal;
}

/** A device authenticated by its own credential: the identity the platform stamps on its messages. */
export interface DeviceIdentity {
  readonly tenantId: string;
  readonly deviceId: string;
}

export function deviceCaller(identity: DeviceIdentity): TenantCaller {
  return {
    tenantId: identity.tenantId,
    principal: { kind: 'device', deviceId: identity.deviceId, tenantId: identity.tenantId },
  };
}

/** How a principal is named in audit records, idempotency scopes and decisions: `kind:id`. */
export function principalName(p: Principal | undefined): string {
  if (!p) return 'anonymous';
  switch (p.kind) {
    case 'user':
      return `user:${p.userId}`;
    case 'platform-admin':
      return `admin:${p.userId}`;
    case 'api-key':
      return `api-key:${p.keyId}`;
    case 'device':
      return `device:${p.deviceId}`;
  }
}
