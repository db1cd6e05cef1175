/**
 * Firmware artifacts from an attacker's side: tenant isolation on every route, the size cap while
 * streaming, the server's own digest, anti-rollback, tampered signatures, Range edge cases, deleted
 * and aborted uploads, and an audit record for every mutation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, verify, createPublicKey, randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { artifactSignedText } from '@mooring/protocol';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';

const MAX = 600 * 1024;
let t: TestPlatform;
let a: { tenantId: string; apiKey: string };
let b: { tenantId: string; apiKey: string };
let devA: { deviceId: string; accessKey: string };
let devB: { deviceId: string; accessKey: string };

before(async () => {
  t = await startTestPlatform({ MOORING_ARTIFACT_MAX_BYTES: String(MAX) });
  a = await t.tenant();
  b = await t.tenant();
  devA = await t.device(a.apiKey);
  devB = await t.device(b.apiKey);
});
after(async () => t.stop());

const octet = { 'content-type': 'application/octet-stream' };
function upload(token: string, image: Buffer, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return t.call('POST', `/v1/artifacts?${qs}`, { token, raw: image, headers: octet });
}
const image = (n: number) => randomBytes(n);
const chunkRows = async () =>
  Number((await t.platform.db.query<{ n: string }>('SELECT count(*) AS n FROM artifact_chunks'))[0]!.n);
const artifactRows = async () =>
  Number((await t.platform.db.query<{ n: string }>('SELECT count(*) AS n FROM artifacts'))[0]!.n);

/**
 * Offers an artifact to devA through a deployment (downloads are only for devices an open deployment
 * offers the image to) and resolves when the offer is there; the returned function cancels it.
 */
async function offerToDevA(artifactId: string, hardwareClass: string) {
  const fw = await t.call('PUT', '/v1/device/firmware', {
    token: devA.accessKey,
    body: { version: '0.0.1', hardwareClass },
  });
  assert.equal(fw.status, 200, fw.text);
  const dep = await t.call('POST', '/v1/deployments', {
    token: a.apiKey,
    body: { artifactId, target: { deviceIds: [devA.deviceId] }, phases: [{ percent: 100 }] },
  });
  assert.equal(dep.status, 201, dep.text);
  for (let i = 0; i < 100; i++) {
    const ota = await t.call('GET', '/v1/device/ota', { token: devA.accessKey });
    if (ota.body.items.some((m: { type: string }) => m.type === 'offer')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return async () => {
    const c = await t.call('POST', `/v1/deployments/${dep.body.id}/devices/${devA.deviceId}/cancel`, {
      token: a.apiKey,
      body: {},
    });
    assert.equal(c.status, 200, c.text);
  };
}

test('an upload is stored with the server digest and a manifest signed by the tenant key', async () => {
  const img = image(300 * 1024);
  const r = await upload(a.apiKey, img, { version: '1.0.0', hardwareClass: 'hw-a', sequence: 1 });
  assert.equal(r.status, 201, r.text);
  const m = r.body.manifest;
  assert.equal(m.sha256, createHash('sha256').update(img).digest('hex'));
  assert.equal(m.size, img.length);
  assert.equal(m.tenantId, a.tenantId);
  assert.equal(r.body.keyKind, 'server');
  assert.equal(r.body.signedBytes, artifactSignedText(m));

  const keys = await t.call('GET', '/v1/device/update-keys', { token: devA.accessKey });
  assert.equal(keys.status, 200);
  const key = keys.body.items.find((k: { id: string }) => k.id === r.body.keyId);
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey }, format: 'jwk' });
  assert.ok(verify(null, Buffer.from(r.body.signedBytes), pub, Buffer.from(r.body.signature, 'base64')));

  const got = await t.call('GET', `/v1/artifacts/${r.body.id}`, { token: a.apiKey });
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, r.body);
  const unoffered = await t.call('GET', `/v1/device/artifacts/${r.body.id}`, { token: devA.accessKey });
  assert.equal(unoffered.status, 404, 'no deployment offers it to the device yet');
  assert.equal(unoffered.body.code, 'ARTIFACT_NOT_FOUND');
  const cancel = await offerToDevA(r.body.id, 'hw-a');
  const whole = await t.call('GET', `/v1/device/artifacts/${r.body.id}`, { token: devA.accessKey });
  assert.equal(whole.status, 200);
  await cancel();
  const cancelled = await t.call('GET', `/v1/device/artifacts/${r.body.id}`, { token: devA.accessKey });
  assert.equal(cancelled.status, 404, 'a cancelled operation no longer opens the image');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  assert.equal(createHash('sha256').update(Buffer.from(whole.text, 'latin1')).digest('hex').length, 64);
});

/** GET with the body as bytes. */
function download(token: string, id: string, range?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: t.platform.httpPort,
          path: `/v1/device/artifacts/${id}`,
          ca: t.platform.caCert,
          agent: false,
          headers: { authorization: `Bearer ${token}`, ...(range ? { range } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

test('Range: single ranges across chunk borders, suffixes, open ends, 416 past the end, several ranges answered whole', async () => {
  const img = image(520 * 1024 + 7);
  const r = await upload(a.apiKey, img, { version: '1.1.0', hardwareClass: 'hw-range', sequence: 1 });
  assert.equal(r.status, 201, r.text);
  const id = r.body.id as string;
  const size = img.length;
  const cancel = await offerToDevA(id, 'hw-range');

  const whole = await download(devA.accessKey, id);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(img));

  const first = await download(devA.accessKey, id, 'bytes=0-0');
  assert.equal(first.status, 206);
  assert.equal(first.headers['content-range'], `bytes 0-0/${size}`);
  assert.ok(first.body.equals(img.subarray(0, 1)));

  const border = await download(devA.accessKey, id, `bytes=${256 * 1024 - 3}-${256 * 1024 + 2}`);
  assert.equal(border.status, 206);
  assert.ok(border.body.equals(img.subarray(256 * 1024 - 3, 256 * 1024 + 3)));

  const resume = await download(devA.accessKey, id, `bytes=${300 * 1024}-`);
  assert.equal(resume.status, 206);
  assert.ok(resume.body.equals(img.subarray(300 * 1024)));

  const suffix = await download(devA.accessKey, id, 'bytes=-10');
  assert.equal(suffix.status, 206);
  assert.equal(suffix.headers['content-range'], `bytes ${size - 10}-${size - 1}/${size}`);
  assert.ok(suffix.body.equals(img.subarray(size - 10)));

  const longSuffix = await download(devA.accessKey, id, `bytes=-${size * 2}`);
  assert.equal(longSuffix.status, 206);
  assert.ok(longSuffix.body.equals(img));

  const pastEndClamped = await download(devA.accessKey, id, `bytes=${size - 2}-${size + 100}`);
  assert.equal(pastEndClamped.status, 206);
  assert.ok(pastEndClamped.body.equals(img.subarray(size - 2)));

  for (const bad of [`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`, 'bytes=-0']) {
    const beyond = await download(devA.accessKey, id, bad);
    assert.equal(beyond.status, 416, bad);
    assert.equal(beyond.headers['content-range'], `bytes */${size}`);
    assert.equal(JSON.parse(beyond.body.toString()).code, 'RANGE_NOT_SATISFIABLE');
  }
  for (const ignored of ['bytes=0-1,5-9', 'bytes=9-3', 'items=0-1']) {
    const answer = await download(devA.accessKey, id, ignored);
    assert.equal(answer.status, 200, ignored);
    assert.ok(answer.body.equals(img));
  }
  await cancel();
});

test("another tenant's artifact is not found on every route, admin and device", async () => {
  const r = await upload(a.apiKey, image(1000), { version: '2.0.0', hardwareClass: 'hw-iso', sequence: 1 });
  assert.equal(r.status, 201);
  const id = r.body.id as string;
  for (const [method, path, token] of [
    ['GET', `/v1/artifacts/${id}`, b.apiKey],
    ['DELETE', `/v1/artifacts/${id}`, b.apiKey],
    ['GET', `/v1/device/artifacts/${id}`, devB.accessKey],
  ] as const) {
    const res = await t.call(method, path, { token });
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.body.code, 'ARTIFACT_NOT_FOUND');
  }
  const list = await t.call('GET', '/v1/artifacts', { token: b.apiKey });
  assert.ok(!list.body.items.some((x: { id: string }) => x.id === id));
  const keysB = await t.call('GET', '/v1/update-keys', { token: b.apiKey });
  const keyA = (await t.call('GET', '/v1/update-keys', { token: a.apiKey })).body.items[0].id;
  assert.ok(!keysB.body.items.some((k: { id: string }) => k.id === keyA));
  assert.equal(
    (await t.call('DELETE', `/v1/update-keys/${keyA}`, { token: b.apiKey })).body.code,
    'UPDATE_KEY_NOT_FOUND',
  );
  // still there for its own tenant, for a device offered it
  const cancel = await offerToDevA(id, 'hw-iso');
  assert.equal((await download(devA.accessKey, id)).status, 200);
  await cancel();
});

test('over the size cap: 413 naming the cap, with and without a declared length, nothing stored', async () => {
  const beforeArtifacts = await artifactRows();
  const declared = await upload(a.apiKey, image(MAX + 1), {
    version: '3.0.0',
    hardwareClass: 'hw-big',
    sequence: 1,
  });
  assert.equal(declared.status, 413);
  assert.equal(declared.body.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(declared.body.limit, MAX);

  // chunked, no Content-Length: refused while streaming, after chunks were written
  const streamed = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.platform.httpPort,
        method: 'POST',
        path: '/v1/artifacts?version=3.0.0&hardwareClass=hw-big&sequence=1',
        ca: t.platform.caCert,
        agent: false,
        headers: { authorization: `Bearer ${a.apiKey}`, ...octet, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    const piece = image(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < MAX + 256 * 1024) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.equal(streamed.status, 413);
  assert.equal(streamed.body.code, 'PAYLOAD_TOO_LARGE');
  assert.match(streamed.body.detail, new RegExp(String(MAX)));
  await eventually(async () => ((await chunkRows()) === (await liveChunks()) ? true : undefined));
  assert.equal(await artifactRows(), beforeArtifacts);
});

/** Chunks that belong to a visible artifact. */
async function liveChunks() {
  return Number(
    (
      await t.platform.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM artifact_chunks c JOIN artifacts a ON a.id = c.artifact_id WHERE a.deleted_at IS NULL',
      )
    )[0]!.n,
  );
}

test("the digest is the server's: a claimed digest must match, nothing stored otherwise", async () => {
  const img = image(5000);
  const wrong = await upload(a.apiKey, img, {
    version: '4.0.0',
    hardwareClass: 'hw-digest',
    sequence: 1,
    sha256: createHash('sha256').update('something else').digest('hex'),
  });
  assert.equal(wrong.status, 422);
  assert.equal(wrong.body.code, 'ARTIFACT_DIGEST_MISMATCH');
  assert.equal(wrong.body.sha256, createHash('sha256').update(img).digest('hex'));
  const right = await upload(a.apiKey, img, {
    version: '4.0.0',
    hardwareClass: 'hw-digest',
    sequence: 1,
    sha256: createHash('sha256').update(img).digest('hex'),
  });
  assert.equal(right.status, 201, right.text);
});

test('anti-rollback: an older or equal sequence is refused, even after the newer artifact is deleted', async () => {
  const first = await upload(a.apiKey, image(100), {
    version: '5.0.0',
    hardwareClass: 'hw-seq',
    sequence: 10,
  });
  assert.equal(first.status, 201);
  for (const sequence of [10, 9, 1]) {
    const r = await upload(a.apiKey, image(100), { version: '5.0.1', hardwareClass: 'hw-seq', sequence });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, 'ARTIFACT_SEQUENCE_NOT_NEWER');
    assert.equal(r.body.latestSequence, 10);
  }
  // another hardware class, another tenant: sequences of their own
  assert.equal(
    (await upload(a.apiKey, image(100), { version: '5.0.0', hardwareClass: 'hw-seq-2', sequence: 1 })).status,
    201,
  );
  assert.equal(
    (await upload(b.apiKey, image(100), { version: '5.0.0', hardwareClass: 'hw-seq', sequence: 1 })).status,
    201,
  );
  assert.equal((await t.call('DELETE', `/v1/artifacts/${first.body.id}`, { token: a.apiKey })).status, 204);
  assert.equal(
    (await upload(a.apiKey, image(100), { version: '5.0.1', hardwareClass: 'hw-seq', sequence: 10 })).status,
    409,
  );
  const bad = await upload(a.apiKey, image(100), { version: 'v5', hardwareClass: 'hw-seq', sequence: 11 });
  assert.equal(bad.status, 400);
  const zero = await upload(a.apiKey, image(100), { version: '5.0.2', hardwareClass: 'hw-seq', sequence: 0 });
  assert.equal(zero.status, 400);
});

test('two uploads racing for one sequence: one is kept, the other refused as not newer', async () => {
  const [x, y] = await Promise.all([
    upload(a.apiKey, image(300 * 1024), { version: '5.1.0', hardwareClass: 'hw-race', sequence: 1 }),
    upload(a.apiKey, image(300 * 1024), { version: '5.1.1', hardwareClass: 'hw-race', sequence: 1 }),
  ]);
  assert.deepEqual([x.status, y.status].sort(), [201, 409]);
  const list = await t.call('GET', '/v1/artifacts?hardwareClass=hw-race', { token: a.apiKey });
  assert.equal(list.body.items.length, 1);
  await eventually(async () => ((await chunkRows()) === (await liveChunks()) ? true : undefined));
});

test('offline keys: a detached signature verifies, a tampered one is refused with nothing stored; revoked keys verify nothing', async () => {
  const pair = generateKeyPairSync('ed25519');
  const publicKey = pair.publicKey.export({ format: 'jwk' }).x as string;
  const added = await t.call('POST', '/v1/update-keys', {
    token: a.apiKey,
    body: { publicKey, name: 'release' },
  });
  assert.equal(added.status, 201, added.text);
  assert.equal(added.body.kind, 'offline');
  const img = image(2048);
  const fields = {
    tenantId: a.tenantId,
    version: '6.0.0',
    hardwareClass: 'hw-offline',
    minVersion: '5.0.0',
    sequence: 1,
    size: img.length,
    sha256: createHash('sha256').update(img).digest('hex'),
  };
  const good = sign(null, Buffer.from(artifactSignedText(fields)), pair.privateKey);
  const query = {
    version: fields.version,
    hardwareClass: fields.hardwareClass,
    minVersion: fields.minVersion,
    sequence: fields.sequence,
  };
  const tampered = Buffer.from(good);
  tampered[5]! ^= 1;
  const before = await artifactRows();
  const refused = await upload(a.apiKey, img, { ...query, signature: tampered.toString('base64') });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.code, 'ARTIFACT_SIGNATURE_INVALID');
  // a good signature over other fields (another sequence) is refused too
  const other = sign(null, Buffer.from(artifactSignedText({ ...fields, sequence: 2 })), pair.privateKey);
  assert.equal((await upload(a.apiKey, img, { ...query, signature: other.toString('base64') })).status, 422);
  assert.equal(await artifactRows(), before);

  const ok = await upload(a.apiKey, img, { ...query, signature: good.toString('base64url') });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.keyId, added.body.id);
  assert.equal(ok.body.keyKind, 'offline');
  assert.equal(ok.body.signature, good.toString('base64'));

  assert.equal((await t.call('DELETE', `/v1/update-keys/${added.body.id}`, { token: a.apiKey })).status, 204);
  const sig2 = sign(null, Buffer.from(artifactSignedText({ ...fields, sequence: 2 })), pair.privateKey);
  const afterRevoke = await upload(a.apiKey, img, {
    ...query,
    sequence: 2,
    signature: sig2.toString('base64'),
  });
  assert.equal(afterRevoke.status, 422);
  const deviceKeys = await t.call('GET', '/v1/device/update-keys', { token: devA.accessKey });
  assert.ok(!deviceKeys.body.items.some((k: { id: string }) => k.id === added.body.id));
  const listed = await t.call('GET', '/v1/update-keys', { token: a.apiKey });
  assert.equal(listed.body.items.find((k: { id: string }) => k.id === added.body.id).status, 'revoked');
  assert.equal(
    (await t.call('POST', '/v1/update-keys', { token: a.apiKey, body: { publicKey: 'x' } })).status,
    400,
  );
});

test('rotation: the new key signs, the retired one still verifies and is still offered to devices', async () => {
  const before = await upload(a.apiKey, image(100), {
    version: '7.0.0',
    hardwareClass: 'hw-rot',
    sequence: 1,
  });
  const rotated = await t.call('POST', '/v1/update-keys/rotate', { token: a.apiKey });
  assert.equal(rotated.status, 201);
  assert.notEqual(rotated.body.id, before.body.keyId);
  const after = await upload(a.apiKey, image(100), {
    version: '7.0.1',
    hardwareClass: 'hw-rot',
    sequence: 2,
  });
  assert.equal(after.body.keyId, rotated.body.id);
  const keys = (await t.call('GET', '/v1/device/update-keys', { token: devA.accessKey })).body.items;
  const old = keys.find((k: { id: string }) => k.id === before.body.keyId);
  assert.equal(old.status, 'retired');
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: old.publicKey }, format: 'jwk' });
  assert.ok(
    verify(null, Buffer.from(before.body.signedBytes), pub, Buffer.from(before.body.signature, 'base64')),
  );
});

test('a deleted artifact cannot be read or downloaded, and its chunks are gone', async () => {
  const r = await upload(a.apiKey, image(300 * 1024), {
    version: '8.0.0',
    hardwareClass: 'hw-del',
    sequence: 1,
  });
  const id = r.body.id as string;
  assert.equal((await t.call('DELETE', `/v1/artifacts/${id}`, { token: a.apiKey })).status, 204);
  assert.equal((await download(devA.accessKey, id)).status, 404);
  assert.equal((await t.call('GET', `/v1/artifacts/${id}`, { token: a.apiKey })).status, 404);
  assert.equal((await t.call('DELETE', `/v1/artifacts/${id}`, { token: a.apiKey })).status, 404);
  const rows = await t.platform.db.query('SELECT 1 FROM artifact_chunks WHERE artifact_id = $1', [id]);
  assert.equal(rows.length, 0);
});

test('an upload aborted mid-body leaves no artifact and no chunks; the server stays healthy', async () => {
  const before = await artifactRows();
  await new Promise<void>((resolve) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      servername: 'localhost',
      port: t.platform.httpPort,
      method: 'POST',
      path: '/v1/artifacts?version=9.0.0&hardwareClass=hw-abort&sequence=1',
      ca: t.platform.caCert,
      agent: false,
      headers: { authorization: `Bearer ${a.apiKey}`, ...octet, 'content-length': String(500 * 1024) },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(image(400 * 1024), () => setTimeout(() => req.destroy(), 200));
  });
  await eventually(async () => ((await chunkRows()) === (await liveChunks()) ? true : undefined));
  assert.equal(await artifactRows(), before);
  assert.equal((await t.call('GET', '/healthz')).status, 200);
  const list = await t.call('GET', '/v1/artifacts?hardwareClass=hw-abort', { token: a.apiKey });
  assert.deepEqual(list.body.items, []);
  // the same sequence is still free
  assert.equal(
    (await upload(a.apiKey, image(10), { version: '9.0.0', hardwareClass: 'hw-abort', sequence: 1 })).status,
    201,
  );
});

test('lists are paged; every mutation leaves an audit record', async () => {
  const p1 = await t.call('GET', '/v1/artifacts?limit=2', { token: a.apiKey });
  assert.equal(p1.status, 200);
  assert.equal(p1.body.items.length, 2);
  assert.ok(p1.body.nextCursor);
  const p2 = await t.call('GET', `/v1/artifacts?limit=2&cursor=${encodeURIComponent(p1.body.nextCursor)}`, {
    token: a.apiKey,
  });
  assert.equal(p2.status, 200);
  assert.ok(p2.body.items.every((x: { id: string }) => x.id < p1.body.items[1].id));

  const records = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit?limit=500', { token: a.apiKey });
    const actions = new Set(
      r.body.items.map((x: { action: string; outcome: string }) => `${x.action} ${x.outcome}`),
    );
    return actions.has('POST /v1/artifacts success') ? actions : undefined;
  });
  for (const action of [
    'POST /v1/artifacts success',
    'POST /v1/artifacts failure',
    'DELETE /v1/artifacts/:artifactId success',
    'POST /v1/update-keys success',
    'POST /v1/update-keys/rotate success',
    'DELETE /v1/update-keys/:updateKeyId success',
  ])
    assert.ok(records.has(action), `${action} in ${[...records].join(', ')}`);

  // An upload's record holds its query's fields and the body's kind, never the request's stream
  // (whose members, once walked into the record, broke the chain's hash), and the chain verifies.
  const all = await t.call('GET', '/v1/audit?limit=500', { token: a.apiKey });
  const upload = all.body.items.find(
    (x: { action: string; outcome: string }) => x.action === 'POST /v1/artifacts' && x.outcome === 'success',
  );
  assert.equal(upload.changes.status, 201, JSON.stringify(upload.changes).slice(0, 500));
  assert.equal(typeof upload.changes.request.version, 'string');
  assert.equal(typeof upload.changes.request.hardwareClass, 'string');
  assert.equal(upload.changes.request.body, '[not JSON]');
  assert.ok(JSON.stringify(upload.changes).length < 1_000, JSON.stringify(upload.changes));
  const verified = await t.call('GET', '/v1/audit/verify', { token: a.apiKey });
  assert.equal(verified.body.intact, true, JSON.stringify(verified.body));
});

test('a device of another tenant gets only its own keys; admin routes refuse device credentials', async () => {
  const keysB = await t.call('GET', '/v1/device/update-keys', { token: devB.accessKey });
  assert.equal(keysB.status, 200);
  const keysA = (await t.call('GET', '/v1/update-keys', { token: a.apiKey })).body.items.map(
    (k: { id: string }) => k.id,
  );
  assert.ok(keysB.body.items.every((k: { id: string }) => !keysA.includes(k.id)));
  assert.equal((await t.call('GET', '/v1/artifacts', { token: devA.accessKey })).status, 401);
  const json = await t.call('POST', '/v1/devices', { token: a.apiKey, raw: 'x', headers: octet });
  assert.equal(json.status, 415);
});
