import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUILT_IN_ROLES, renderAccessTables } from './access.js';
import { coversDevice, missingForDelegation, reach, resolveGrants, validateGrants } from './policy.js';
import { authorityOf, checkDelegation, missingFor } from './delegation.js';
import { createRoleService } from './service.js';
import { roleStore } from './store.js';
import type { Queryable } from '../../store/db.js';
import type { AppError } from '../../errors.js';

test('docs/access-control.md carries the permission and role tables', () => {
  const doc = readFileSync(
    fileURLToPath(new URL('../../../../../docs/access-control.md', import.meta.url)),
    'utf8',
  );
  assert.ok(
    doc.includes(renderAccessTables()),
    'out of date: run node --conditions=mooring-source --import tsx scripts/render-access.ts',
  );
});

test('grants resolve to permissions; scoped grants keep only device permissions; unknown roles grant nothing', () => {
  const [tenantWide, scoped, gone] = resolveGrants(
    [{ role: 'operator' }, { role: 'operator', scope: { tag: 'line:a' } }, { role: 'deleted-role' }],
    new Map(),
  );
  assert.ok(tenantWide!.permissions.has('provisioning:read'));
  assert.equal(scoped!.tag, 'line:a');
  assert.ok(scoped!.permissions.has('devices:command'));
  assert.equal(scoped!.permissions.has('provisioning:read'), false);
  assert.equal(gone!.permissions.size, 0);
  assert.deepEqual(reach([scoped!], 'devices:command').kind, 'devices');
  assert.deepEqual(reach([tenantWide!], 'devices:command').kind, 'tenant');
  assert.deepEqual(reach([gone!], 'devices:read').kind, 'none');
  assert.equal(coversDevice([scoped!], 'dev_1', ['line:a']), true);
  assert.equal(coversDevice([scoped!], 'dev_1', ['line:b']), false);
});

test('delegation: nothing beyond what the holder has, over the same or a narrower scope', () => {
  const holder = resolveGrants(
    [{ role: 'operator', scope: { tag: 'line:a' } }, { permissions: ['keys:manage'] }],
    new Map(),
  );
  const want = (g: Parameters<typeof resolveGrants>[0]) =>
    missingForDelegation(holder, resolveGrants(g, new Map()));
  assert.deepEqual(want([{ permissions: ['devices:read'], scope: { tag: 'line:a' } }]), []);
  assert.deepEqual(want([{ permissions: ['devices:read'] }]), ['devices:read']);
  assert.deepEqual(want([{ permissions: ['devices:read'], scope: { tag: 'line:b' } }]), [
    'devices:read@tag:line:b',
  ]);
  assert.deepEqual(want([{ permissions: ['keys:manage'] }]), []);
  assert.throws(
    () => validateGrants([{ role: 'viewer', permissions: ['devices:read'] }], new Set()),
    /either a role/,
  );
  assert.throws(() => validateGrants([{ role: 'nope' }], new Set()), /unknown role/);
});

test('delegation over roles and credentials: a role counts as held by each holder; an authority round-trips', () => {
  const customs = new Map([['climber', ['devices:read' as const]]]);
  const admin = {
    kind: 'api-key' as const,
    keyId: 'key_a',
    tenantId: 'ten_a',
    grants: resolveGrants([{ role: 'admin' }, { role: 'operator', scope: { tag: 'line:a' } }], customs),
  };
  assert.deepEqual(missingFor(admin, [{ role: 'climber' }], customs), []);
  assert.deepEqual(missingFor(admin, [{ role: 'owner' }], customs), ['tenant:manage']);
  assert.deepEqual(missingFor(admin, [{ permissions: ['tenant:manage'] }, { role: 'owner' }], customs), [
    'tenant:manage',
  ]);
  assert.deepEqual(missingFor(admin, [{ role: 'deleted' }], customs), [], 'a deleted role holds nothing');
  // What a principal held, stored and resolved again, is exactly as strong as the principal.
  const stored = authorityOf(admin);
  assert.deepEqual(stored[1], {
    permissions: [
      ...resolveGrants([{ role: 'operator', scope: { tag: 'line:a' } }], customs)[0]!.permissions,
    ].sort(),
    scope: { tag: 'line:a' },
  });
  assert.deepEqual(missingFor(admin, stored, new Map()), []);
  const viewer = { ...admin, grants: resolveGrants([{ role: 'viewer' }], customs) };
  assert.ok(missingFor(viewer, stored, new Map()).includes('keys:manage'));
  assert.equal(
    authorityOf({ kind: 'platform-admin', userId: 'usr_p' })[0]!.permissions!.length,
    BUILT_IN_ROLES.owner!.permissions.length,
  );
});

test('delegation reads custom roles fresh: a role another node just widened counts as widened', async () => {
  let rows = [{ name: 'r', description: '', permissions: ['devices:read'] }];
  const db = { query: async () => rows } as unknown as Queryable;
  const roles = createRoleService({
    store: roleStore(db),
    transaction: () => Promise.reject(new Error('unused')),
  });
  assert.deepEqual((await roles.customPermissions('ten_a')).get('r'), ['devices:read']);
  // Another node widens the role: this node's cache still holds the old one for a few seconds.
  rows = [{ name: 'r', description: '', permissions: ['devices:read', 'tenant:manage'] }];
  assert.deepEqual((await roles.customPermissions('ten_a')).get('r'), ['devices:read']);
  const admin = {
    tenantId: 'ten_a',
    principal: {
      kind: 'api-key' as const,
      keyId: 'key_a',
      tenantId: 'ten_a',
      grants: resolveGrants([{ role: 'admin' }], new Map()),
    },
  };
  await assert.rejects(checkDelegation(roles, admin, [{ role: 'r' }]), (e: AppError) => {
    assert.deepEqual(e.details.missing, ['tenant:manage']);
    return true;
  });
});
