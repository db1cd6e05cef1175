/**
 * A deployment survives SIGKILL of its server mid-phase: after a restart on the same data directory
 * the orchestrator goes on within 5 s from the store alone; no device is offered twice (every
 * operation is on its first attempt and has one `offered` fact) and none is stranded (all succeed).
 * Devices speak the HTTPS device API here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapAdminToken, startServerProcess, type ServerProcess } from './harness.js';

const DEVICES = 20;

async function offersOf(server: ServerProcess, key: string) {
  const r = await server.call('GET', '/v1/device/ota', { token: key });
  assert.equal(r.status, 200, r.text);
  return (r.body.items as { type: string; operationId: string; attempt: number }[]).filter(
    (m) => m.type === 'offer',
  );
}

async function update(server: ServerProcess, key: string, op: { operationId: string; attempt: number }) {
  for (const state of ['accepted', 'downloading', 'downloaded', 'installing', 'rebooting', 'succeeded']) {
    const r = await server.call('POST', `/v1/device/ota/${op.operationId}/progress`, {
      token: key,
      body: { attempt: op.attempt, state, ...(state === 'succeeded' ? { version: '2.0.0' } : {}) },
    });
    assert.equal(r.status, 200, r.text);
  }
}

test(
  'SIGKILL mid-phase: the deployment resumes within 5 s, no device offered twice, none stranded',
  { timeout: 120_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mooring-ota-crash-'));
    let server = await startServerProcess(dataDir);
    try {
      const token = await bootstrapAdminToken(
        (path, body, t) => server.call('POST', path, { body, ...(t ? { token: t } : {}) }),
        dataDir,
      );
      const tenant = await server.call('POST', '/v1/tenants', { token, body: { name: 'ota-crash' } });
      const apiKey = (
        await server.call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, { token, body: { name: 'k' } })
      ).body.secret as string;
      const keys: string[] = [];
      for (let i = 0; i < DEVICES; i++) {
        const d = await server.call('POST', '/v1/devices', { token: apiKey, body: { name: `c${i}` } });
        const k = (await server.call('POST', `/v1/devices/${d.body.id}/access-keys`, { token: apiKey })).body
          .secret as string;
        const fw = await server.call('PUT', '/v1/device/firmware', {
          token: k,
          body: { version: '1.0.0', hardwareClass: 'crash-hw' },
        });
        assert.equal(fw.status, 200, fw.text);
        keys.push(k);
      }
      const art = await server.call('POST', '/v1/artifacts?version=2.0.0&hardwareClass=crash-hw&sequence=1', {
        token: apiKey,
        raw: Buffer.from('image'),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(art.status, 201, art.text);
      const dep = await server.call('POST', '/v1/deployments', {
        token: apiKey,
        body: {
          artifactId: art.body.id,
          target: {},
          phases: [{ percent: 50, soakSeconds: 0 }, { percent: 100 }],
          healthGate: { enabled: false },
        },
      });
      assert.equal(dep.status, 201, dep.text);
      // Phase 1: half the devices are offered; half of those finish before the kill.
      const offered = new Map<number, { operationId: string; attempt: number }>();
      const end = Date.now() + 10_000;
      while (offered.size < DEVICES / 2 && Date.now() < end) {
        for (const [i, k] of keys.entries()) {
          if (offered.has(i)) continue;
          const [o] = await offersOf(server, k);
          if (o) offered.set(i, { operationId: o.operationId, attempt: o.attempt });
        }
      }
      assert.equal(offered.size, DEVICES / 2, 'phase 1 offered');
      const phase1 = [...offered.entries()];
      for (const [i, op] of phase1.slice(0, DEVICES / 4)) await update(server, keys[i]!, op);

      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
      server = await startServerProcess(dataDir);
      const restarted = Date.now();

      // The rest of phase 1 finishes; phase 2 must be offered within 5 s of that.
      for (const [i, op] of phase1.slice(DEVICES / 4)) {
        const [again] = await offersOf(server, keys[i]!);
        assert.deepEqual(
          again && { operationId: again.operationId, attempt: again.attempt },
          op,
          'the same offer, not a new one',
        );
        await update(server, keys[i]!, op);
      }
      const phase1Done = Date.now();
      const rest = keys.map((_k, i) => i).filter((i) => !offered.has(i));
      const phase2 = new Map<number, { operationId: string; attempt: number }>();
      while (phase2.size < rest.length && Date.now() - phase1Done < 5_000) {
        for (const i of rest) {
          if (phase2.has(i)) continue;
          const [o] = await offersOf(server, keys[i]!);
          if (o) phase2.set(i, o);
        }
      }
      assert.equal(
        phase2.size,
        rest.length,
        `phase 2 offered within 5 s of restart + phase 1 (${Date.now() - restarted} ms)`,
      );
      for (const [i, op] of phase2) await update(server, keys[i]!, op);

      const done = await server.call('GET', `/v1/deployments/${dep.body.id}`, { token: apiKey });
      for (let n = 0; n < 100 && done.body.status !== 'completed'; n++) {
        await new Promise((r) => setTimeout(r, 100));
        Object.assign(done, await server.call('GET', `/v1/deployments/${dep.body.id}`, { token: apiKey }));
      }
      assert.equal(done.body.status, 'completed');
      assert.equal(done.body.counts.succeeded, DEVICES, 'none stranded');
      const devices = await server.call('GET', `/v1/deployments/${dep.body.id}/devices?limit=100`, {
        token: apiKey,
      });
      assert.ok(
        devices.body.items.every((d: { attempt: number }) => d.attempt === 1),
        'no device offered twice',
      );
    } finally {
      server.child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
