/**
 * Who is calling. Every service method takes its caller explicitly; nothing reads the tenant from
 * ambient state, and every tenant-scoped query filters on `caller.tenantId`.
 */
export type Principal =
  | {
      kind: 'platform-admin';
      userId: string;
      sessionId?: string;
      /** The session may only change the password (it was a one-time one). */
      passwordChangeRequired?: boolean;
    }
  | {
      kind: 'user';
      userId: string;
      tenantId: string;
      grants: readonly EffectiveGrant[];
      sessionId?: string;
      /** The session may only enrol a second factor (the tenant requires one). */
      restricted?: boolean;
      /** The session may only change the password (it was a one-time one). */
      passwordChangeRequired?: boolean;
    }
  | { kind: 'api-key'; keyId: string; tenantId: string; grants: readonly EffectiveGrant[] }
  | { kind: 'device'; deviceId: string; tenantId: string };

/**
 * What a user or an API key may do, resolved from its grants when it authenticates: a set of
 * permissions over the whole tenant, the devices carrying `tag`, or the device `deviceId`.
 */
export interface EffectiveGrant {
  readonly permissions: ReadonlySet<string>;
  readonly tag?: string;
  readonly deviceId?: string;
}

/** The devices a caller with only scoped grants may see in a list: these tags or these ids. */
export interface DeviceVisibility {
  readonly tags: readonly string[];
  readonly deviceIds: readonly string[];
}

/** A caller acting inside one tenant. */
export interface TenantCaller {
  readonly tenantId: string;
  readonly principal: Principal;
  /** Set by the access guard on list calls when the caller's grants cover only some devices. */
  readonly visible?: DeviceVisibility;
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
