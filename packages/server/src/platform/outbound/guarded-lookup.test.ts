/**
 * The guarded lookup checks every address a name resolves to, refuses the name when one is refused,
 * resolves once per connection and connects to the address it checked.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { createAddressPolicy } from './address-policy.js';
import { createGuardedLookup, resolveChecked, type Resolver } from './guarded-lookup.js';

const policy = createAddressPolicy();
const loopbackAllowed = createAddressPolicy({ allowList: ['127.0.0.1/32'] });
const answering =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));

let server: Server;
let port: number;
before(async () => {
  server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Connects with the lookup; resolves to the remote address, or rejects with the socket's error. */
function connectWith(lookup: ReturnType<typeof createGuardedLookup>, autoSelectFamily: boolean) {
  return new Promise<string>((resolve, reject) => {
    const socket: Socket = connect({ host: 'evil.example', port, lookup, autoSelectFamily });
    socket.once('connect', () => {
      resolve(socket.remoteAddress ?? '');
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

test('a name resolving to loopback is refused, naming the host and the address', async () => {
  for (const autoSelectFamily of [true, false]) {
    const lookup = createGuardedLookup({ policy, resolve: answering('127.0.0.1') });
    await assert.rejects(connectWith(lookup, autoSelectFamily), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'OUTBOUND_ADDRESS_REFUSED');
      assert.match(e.message, /^evil\.example resolves to 127\.0\.0\.1, which is refused: .*loopback/);
      return true;
    });
  }
});

test('one refused address among public ones refuses the name', async () => {
  for (const addresses of [
    ['93.184.215.14', '10.0.0.1'],
    ['2606:4700::1111', '::ffff:169.254.169.254'],
    ['8.8.8.8', 'fd00::1'],
  ])
    await assert.rejects(
      resolveChecked('mixed.example', 0, { policy, resolve: answering(...addresses) }),
      { code: 'OUTBOUND_ADDRESS_REFUSED' },
      addresses.join(' '),
    );
  assert.deepEqual(
    await resolveChecked('ok.example', 0, { policy, resolve: answering('93.184.215.14', '2606:4700::1111') }),
    [
      { address: '93.184.215.14', family: 4 },
      { address: '2606:4700::1111', family: 6 },
    ],
  );
});

test('the connection goes to the checked address and the name is resolved once', async () => {
  for (const autoSelectFamily of [true, false]) {
    let calls = 0;
    // A rebinding resolver: the allowed address first, loopback's neighbour ever after.
    const resolve: Resolver = async () => {
      calls++;
      return [{ address: calls === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    };
    const lookup = createGuardedLookup({ policy: loopbackAllowed, resolve });
    assert.equal(await connectWith(lookup, autoSelectFamily), '127.0.0.1');
    assert.equal(calls, 1);
  }
});

test('it behaves as dns.lookup: family, all, and the short call form', async () => {
  const lookup = createGuardedLookup({ policy, resolve: answering('93.184.215.14', '2606:4700::1111') });
  const call = (options: object | number | null) =>
    new Promise<unknown[]>((resolve) => {
      const callback = (...args: unknown[]) => resolve(args);
      if (options === null)
        (lookup as unknown as (h: string, cb: typeof callback) => void)('x.example', callback);
      else
        (lookup as unknown as (h: string, o: unknown, cb: typeof callback) => void)(
          'x.example',
          options,
          callback,
        );
    });
  assert.deepEqual(await call(null), [null, '93.184.215.14', 4]);
  assert.deepEqual(await call({ family: 6 }), [null, '2606:4700::1111', 6]);
  assert.deepEqual(await call(6), [null, '2606:4700::1111', 6]);
  assert.deepEqual(await call({ all: true, family: 4 }), [null, [{ address: '93.184.215.14', family: 4 }]]);
  assert.deepEqual(await call({ family: 4, all: false }), [null, '93.184.215.14', 4]);

  const none = createGuardedLookup({ policy, resolve: answering() });
  const [notFound] = await new Promise<unknown[]>((resolve) =>
    none('nx.example', {}, (...args) => resolve(args)),
  );
  assert.equal((notFound as { code?: string }).code, 'ENOTFOUND');
});

test('an IP address given as the name is checked without resolving', async () => {
  const resolve: Resolver = async () => assert.fail('resolved an IP address');
  await assert.rejects(resolveChecked('169.254.169.254', 0, { policy, resolve }), {
    code: 'OUTBOUND_ADDRESS_REFUSED',
    message: /^refused: 169\.254\.169\.254 is link-local/,
  });
  await assert.rejects(resolveChecked('[::1]', 0, { policy, resolve }), { code: 'OUTBOUND_ADDRESS_REFUSED' });
  assert.deepEqual(await resolveChecked('8.8.8.8', 0, { policy, resolve }), [
    { address: '8.8.8.8', family: 4 },
  ]);
});

test('the system resolver is the default, and its answer for localhost is refused', async () => {
  await assert.rejects(resolveChecked('localhost', 0, { policy }), { code: 'OUTBOUND_ADDRESS_REFUSED' });
});
