import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MooringClient } from './client.js';
import { OPERATIONS, pathOf } from './operations.js';

test('a named operation fills in its path parameters, encoded', () => {
  assert.equal(pathOf('getDevice', { deviceId: 'dev_1/2' }), '/v1/devices/dev_1%2F2');
  assert.throws(() => pathOf('getDevice', {} as { deviceId: string }), /getDevice: missing deviceId/);
  assert.deepEqual(OPERATIONS.getDevice, ['GET', '/v1/devices/{deviceId}']);
});

test('calls are typed by the API schemas: a wrong field is a type error', () => {
  // Type-level only: the functions are never run (typecheck proves the expectations).
  const client = new MooringClient({ baseUrl: 'https://localhost:1' });
  const typed = async () => {
    const device = await client.op('getDevice', { deviceId: 'dev_1' });
    const name: string = device.name;
    // @ts-expect-error a device has no `label`
    void device.label;
    // @ts-expect-error the path parameter is `deviceId`
    await client.op('getDevice', { id: 'dev_1' });
    // @ts-expect-error `name` of a device is a string
    await client.op('createDevice', {}, { body: { name: 1 } });
    const page = await client.op('listDevices', {}, { query: { limit: 10 } });
    const next: string | null = page.nextCursor;
    const none: undefined = await client.op('deleteDevice', { deviceId: 'dev_1' });
    return [name, next, none];
  };
  assert.equal(typeof typed, 'function');
  client.close();
});
