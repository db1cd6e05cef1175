import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import type { Db } from '../../store/db.js';
import { newDeviceRecord, type DeviceService } from '../devices/devices.js';
import { deviceStore } from '../devices/store.js';
import type { PkiService } from '../pki/pki.js';
import { CLAIM_CODE_PREFIX, CLAIM_CODE_TTL_MS, type OwnershipService } from './ownership.js';

export function createOwnershipService(deps: {
  db: Db;
  bus: Bus;
  devices: DeviceService;
  pki: PkiService;
  now?: () => number;
}): OwnershipService {
  const { db, bus, devices, pki } = deps;
  const now = deps.now ?? Date.now;
  return {
    async release(caller, deviceId, { keepData }) {
      const device = await devices.get(caller, deviceId);
      if (device.status === 'released')
        throw new AppError('ALREADY_EXISTS', `device ${deviceId} was released already`);
      const t = now();
      const claimCode = newSecret(CLAIM_CODE_PREFIX);
      await db.transaction(async (tx) => {
        await tx.query(
          'UPDATE device_access_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND device_id = $2',
          [caller.tenantId, deviceId, t],
        );
        // Registration tokens issued so far stop working; certificates are revoked (CRL).
        await tx.query(
          `UPDATE devices SET tokens_valid_after = $3, status = 'released', serial = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2`,
          [caller.tenantId, deviceId, t],
        );
        await tx.query(
          `INSERT INTO device_transfers (id, from_tenant_id, from_device_id, serial, claim_code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            newId('xfr', t),
            caller.tenantId,
            keepData ? deviceId : null,
            device.serial,
            sha256Hex(claimCode),
            t,
            t + CLAIM_CODE_TTL_MS,
          ],
        );
      });
      await pki.revokeAllForDevice(caller.tenantId, deviceId, 'device released');
      bus.publish('device.disconnect', { deviceId, reason: 'device_released' });
      if (!keepData) await devices.delete(caller, deviceId);
      return {
        claimCode,
        expiresAt: t + CLAIM_CODE_TTL_MS,
        device: keepData ? await devices.get(caller, deviceId) : null,
      };
    },

    async claim(caller, claimCode, { name }) {
      const t = now();
      return db
        .transaction(async (tx) => {
          const [transfer] = await tx.query<{ id: string; serial: string | null; from_tenant_id: string }>(
            `UPDATE device_transfers SET claimed_at = $2, to_tenant_id = $3
            WHERE claim_code_hash = $1 AND claimed_at IS NULL AND expires_at > $2 RETURNING id, serial, from_tenant_id`,
            [sha256Hex(claimCode), t, caller.tenantId],
          );
          if (!transfer) throw new AppError('CLAIM_CODE_INVALID');
          const [clash] = transfer.serial
            ? await tx.query('SELECT id FROM devices WHERE tenant_id = $1 AND serial = $2', [
                caller.tenantId,
                transfer.serial,
              ])
            : [];
          if (clash) throw Errors.alreadyExists(`a device with serial '${transfer.serial}'`);
          const id = newId('dev', t);
          await deviceStore(tx).insert(
            newDeviceRecord({
              id,
              tenantId: caller.tenantId,
              serial: transfer.serial,
              name: name ?? transfer.serial ?? id,
              now: t,
            }),
          );
          await tx.query('UPDATE device_transfers SET to_device_id = $2 WHERE id = $1', [transfer.id, id]);
          return id;
        })
        .then((id) => devices.get(caller, id));
    },
  };
}
