/**
 * The one enforcement point. `guard` wraps a domain service so that every method first checks its
 * rule: the permission it needs, and for device-scoped permissions, whether the caller's grants cover
 * the device it acts on. The composition root hands only guarded services to the adapters (REST, MQTT
 * hooks, workers use the unguarded ones), so no route or handler tests a role itself. A method needs
 * a rule to exist on the guarded service at all: the rule tables are typed to name every method.
 */
import { AppError, Errors } from '../../errors.js';
import { principalName, type Principal, type TenantCaller } from '../../platform/caller.js';
import type { Permission } from './access.js';
import { coversDevice, reach, visibility } from './policy.js';

export type Rule<A extends unknown[]> =
  | {
      /** The permission a tenant user or API key needs; the first argument is its TenantCaller. */
      permission: Permission;
      /** The device the call acts on, checked against scoped grants. */
      device?: (...args: A) => string;
      /** Tags the call gives a device (create, update): a tag-scoped caller must keep its own tag. */
      tags?: (...args: A) => readonly string[] | undefined;
      /** A list over devices: a scoped caller sees only the devices its grants cover. */
      list?: true;
      /** Platform administrators may call it too (bootstrapping a tenant). */
      platform?: true;
      /**
       * Permissions needed besides `permission`, each over the whole tenant: a call that does the work
       * of several single-device paths (a bulk revocation) needs what each of them needs.
       */
      also?: readonly Permission[];
    }
  | {
      /** Only platform administrators; the first argument carries the principal. */
      platformOnly: true;
    }
  | {
      /** Not for adapters (housekeeping, other services): the guarded service refuses the call. */
      internal: string;
    }
  | {
      /**
       * No caller to authorize, and why: the argument is the credential being checked, the caller is
       * a device confined to itself by its credential, or it is a public document.
       */
      open: string;
    };

export type Rules<S> = {
  [K in keyof S]: S[K] extends (...args: infer A) => unknown ? Rule<A> : never;
};

export interface GuardDeps {
  /** A device's tags, or undefined when the tenant has no such device (the service then answers 404). */
  deviceTags(tenantId: string, deviceId: string): Promise<readonly string[] | undefined>;
}

function denied(p: Principal, permission: Permission): AppError {
  return new AppError('FORBIDDEN', `${principalName(p)} is not granted ${permission}`, {
    details: { permission },
  });
}

/** Checks a rule for a call and returns the caller the service should see (narrowed for lists). */
async function authorize<A extends unknown[]>(rule: Rule<A>, args: A, deps: GuardDeps): Promise<unknown> {
  if ('open' in rule || 'internal' in rule) return args[0];
  const caller = args[0] as TenantCaller;
  const p = caller?.principal;
  if (!p) throw Errors.unauthenticated();
  // A session opened with a one-time password may do nothing but change it (a self-service call).
  if ((p.kind === 'user' || p.kind === 'platform-admin') && p.passwordChangeRequired)
    throw Errors.passwordChangeRequired();
  if ('platformOnly' in rule) {
    if (p.kind !== 'platform-admin') throw Errors.forbidden('this action is for platform administrators');
    return caller;
  }
  if (p.kind === 'platform-admin') {
    if (rule.platform) return caller;
    throw Errors.forbidden('platform administrators act on tenants only through the platform routes');
  }
  if (p.kind === 'device') throw Errors.forbidden('a device credential cannot call the management API');
  if (p.kind === 'user' && p.restricted)
    throw new AppError('TOTP_ENROLLMENT_REQUIRED', 'enrol a second factor, then log in again');
  const r = reach(p.grants, rule.permission);
  if (r.kind === 'none') throw denied(p, rule.permission);
  for (const more of rule.also ?? []) if (reach(p.grants, more).kind !== 'tenant') throw denied(p, more);
  if (r.kind === 'tenant') return caller;
  // Only scoped grants hold the permission.
  if (rule.list) return { ...caller, visible: visibility(r.grants) };
  if (!rule.device && !rule.tags) throw denied(p, rule.permission);
  if (rule.device) {
    const deviceId = rule.device(...args);
    const tags = await deps.deviceTags(caller.tenantId, deviceId);
    // Outside the caller's scope the device does not exist for it, as in its lists.
    if (tags !== undefined && !coversDevice(r.grants, deviceId, tags)) throw Errors.deviceNotFound(deviceId);
  }
  if (rule.tags) {
    const tags = rule.tags(...args);
    if (tags !== undefined && !r.grants.some((g) => g.tag !== undefined && tags.includes(g.tag)))
      throw new AppError(
        'FORBIDDEN',
        `${principalName(p)} holds ${rule.permission} only for tags ${r.grants.flatMap((g) => (g.tag ? [g.tag] : [])).join(', ') || '(none)'}: the device must carry one of them`,
        { details: { permission: rule.permission } },
      );
    if (tags === undefined && !rule.device) throw denied(p, rule.permission);
  }
  return caller;
}

export function guard<S extends object>(service: S, rules: Rules<S>, deps: GuardDeps): S {
  const guarded: Record<string, unknown> = {};
  for (const name of Object.keys(rules) as (keyof S & string)[]) {
    const method = service[name];
    if (typeof method !== 'function') throw new Error(`guard: ${name} is not a method`);
    const rule = rules[name] as Rule<unknown[]>;
    const fn = (method as (...a: unknown[]) => unknown).bind(service);
    guarded[name] =
      'open' in rule
        ? fn
        : 'internal' in rule
          ? () => {
              throw new Error(`${name} is internal (${rule.internal}) and not callable through the guard`);
            }
          : async (...args: unknown[]) => {
              const caller = await authorize(rule, args, deps);
              return fn(caller, ...args.slice(1));
            };
  }
  return guarded as S;
}
