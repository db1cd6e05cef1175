import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import type { Transaction } from '../../store/db.js';
import { newDeviceRecord, type DeviceRecordsOn, type DeviceService } from '../devices/devices.js';
import type { PkiService } from '../pki/pki.js';
import { CLAIM_CODE_PREFIX, CLAIM_CODE_TTL_MS, type OwnershipService } from './ownership.js';
import type { OwnershipStore } from './store.js';

export function createOwnershipService(deps: {
  transaction: Transaction<OwnershipStore>;
  /** Releases the device's credentials; checks a claimed serial is free and creates its device record. */
  deviceRecords: DeviceRecordsOn;
  bus: Bus;
  devices: DeviceService;
  pki: PkiService;
  now?: () => number;
}): OwnershipService {
  const { transaction, bus, devices, pki } = deps;
  const now = deps.now ?? Date.now;
  return {
    async release(caller, deviceId, { keepData }) {
      const device = await devices.get(caller, deviceId);
      if (device.status === 'released')
        throw new AppError('ALREADY_EXISTS', `device ${deviceId} was released already`);
      const t = now();
      const claimCode = newSecret(CLAIM_CODE_PREFIX);
      await transaction(async (store, tx) => {
        // Access keys and registration tokens issued so far stop working; certificates are revoked (CRL).
        const records = deps.deviceRecords(tx);
        await records.revokeAllAccessKeys(caller.tenantId, deviceId, t);
        await records.release(caller.tenantId, deviceId, t);
        await store.insertTransfer({
          id: newId('xfr', t),
          fromTenantId: caller.tenantId,
          fromDeviceId: keepData ? deviceId : null,
          serial: device.serial,
          claimCodeHash: sha256Hex(claimCode),
          createdAt: t,
          expiresAt: t + CLAIM_CODE_TTL_MS,
        });
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
      return transaction(async (store, tx) => {
        const transfer = await store.claim(sha256Hex(claimCode), caller.tenantId, t);
        if (!transfer) throw new AppError('CLAIM_CODE_INVALID');
        const devices = deps.deviceRecords(tx);
        if (transfer.serial && (await devices.bySerial(caller.tenantId, transfer.serial)))
          throw Errors.alreadyExists(`a device with serial '${transfer.serial}'`);
        const id = newId('dev', t);
        await devices.insert(
          newDeviceRecord({
            id,
            tenantId: caller.tenantId,
            serial: transfer.serial,
            name: name ?? transfer.serial ?? id,
            now: t,
          }),
        );
        await store.setClaimedDevice(transfer.id, id);
        return id;
      }).then((id) => devices.get(caller, id));
    },
  };
}
