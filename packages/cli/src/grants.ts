/** Grants from command-line options: `--role operator --tag line:a`, `--permission devices:read …`, or `--grants <json>`. */
import type { Command } from 'commander';
import type { GrantSchema, Permission } from '@mooring/protocol';
import { parseJson } from './act.js';
import { UsageError } from './context.js';

type Grant = typeof GrantSchema.static;

export interface GrantOptions {
  role?: string;
  permission?: string[];
  tag?: string;
  device?: string;
  grants?: string;
}

/** The grants as the API takes them; the server checks roles, permissions and scopes. */
export function grantsFrom(o: GrantOptions): Grant[] | undefined {
  if (o.grants) {
    const g = parseJson(o.grants, '--grants');
    if (!Array.isArray(g)) throw new UsageError('--grants must be a JSON array of grants');
    return g as Grant[];
  }
  if (!o.role && !o.permission?.length) {
    if (o.tag || o.device) throw new UsageError('--tag and --device scope a --role or --permission');
    return undefined;
  }
  if (o.role && o.permission?.length) throw new UsageError('give --role or --permission, not both');
  if (o.tag && o.device) throw new UsageError('a grant is scoped to one tag or one device');
  const scope = o.tag ? { tag: o.tag } : o.device ? { deviceId: o.device } : undefined;
  return [
    {
      ...(o.role ? { role: o.role } : { permissions: o.permission as Permission[] }),
      ...(scope ? { scope } : {}),
    },
  ];
}

export function withGrantOptions(cmd: Command): Command {
  return cmd
    .option(
      '--role <role>',
      'a built-in or custom role (owner, admin, operator, technician, viewer, auditor, factory, …)',
    )
    .option(
      '--permission <permission>',
      'a permission, repeatable (devices:read, devices:command, …)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--tag <tag>', 'scope the grant to the devices with this tag')
    .option('--device <deviceId>', 'scope the grant to one device')
    .option('--grants <json>', 'the grants as JSON, e.g. [{"role":"operator","scope":{"tag":"line:a"}}]');
}
