/**
 * A webhook receiver for tests: HTTPS on 127.0.0.1 with its own CA, answering the verification
 * challenge, recording every request, and able to go down (connections refused) and come back on
 * the same port. `verifyStandardWebhook` is an independent verifier of the signature scheme.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  DAY_MS,
  ECDSA_SHA256,
  exportPkcs8Pem,
  generateEcKeys,
  randomSerial,
  x509,
} from '../src/domains/pki/x509.js';

export interface Received {
  headers: Record<string, string>;
  body: string;
  json: { type?: string; id?: string; challenge?: string; [k: string]: unknown };
  at: number;
}

/**
 * Verifies a Standard Webhooks signature with nothing but node:crypto: the id, timestamp and body
 * signed with HMAC-SHA256 under the secret's bytes, any of the space-separated `v1,` signatures
 * matching, the timestamp within `toleranceS` of now. Throws why it fails.
 */
export function verifyStandardWebhook(
  secret: string,
  headers: Record<string, string>,
  body: string,
  toleranceS = 300,
) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) throw new Error('missing webhook headers');
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) throw new Error('timestamp out of tolerance');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  const ok = sigs.split(' ').some((s) => {
    const [version, value] = s.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new Error('no signature matches');
}

export interface Receiver {
  url: string;
  port: number;
  ca: string;
  received: Received[];
  /** Events received (the verification challenges left out). */
  events(): Received[];
  /** The status events are answered with (200 by default); headers to add. */
  answer: { status: number; headers?: Record<string, string> };
  /** Holds every request open without answering (to kill the sender mid-request). */
  stall: boolean;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function certificates() {
  const caKeys = await generateEcKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=receiver test CA',
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const keys = await generateEcKeys();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
    ],
  });
  return { ca: ca.toString('pem'), cert: leaf.toString('pem'), key: await exportPkcs8Pem(keys.privateKey) };
}

export async function startReceiver(): Promise<Receiver> {
  const tls = await certificates();
  let server: Server | undefined;
  let port = 0;
  const r: Receiver = {
    url: '',
    port: 0,
    ca: tls.ca,
    received: [],
    events: () => r.received.filter((x) => x.json.type !== 'webhook.verification'),
    answer: { status: 200 },
    stall: false,
    async up() {
      server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: Received['json'] = {};
          try {
            json = JSON.parse(body) as Received['json'];
          } catch {
            /* recorded as is */
          }
          r.received.push({ headers: req.headers as Record<string, string>, body, json, at: Date.now() });
          if (r.stall) return; // never answered
          if (json.type === 'webhook.verification') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ challenge: json.challenge }));
            return;
          }
          res.writeHead(r.answer.status, { 'content-type': 'text/plain', ...(r.answer.headers ?? {}) });
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', () => resolve()));
      port = (server.address() as AddressInfo).port;
      r.port = port;
      r.url = `https://127.0.0.1:${port}/hook`;
    },
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    close: () => r.down(),
  };
  await r.up();
  return r;
}
