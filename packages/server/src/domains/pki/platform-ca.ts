/**
 * First-start TLS material. In an empty data directory a platform CA (ECDSA P-256, 10 years) and a
 * server certificate signed by it are created, so TLS works with no operator input; devices pin the
 * CA. An operator who supplies a certificate and key gets those used instead. Later starts reuse the CA,
 * and the server certificate while it still fits (see `serverCertFits`).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { SecretBox } from '../../platform/secret-box.js';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  DAY_MS,
  ECDSA_SHA256 as SIGN,
  exportPkcs8Pem,
  generateEcKeys,
  importEcPrivateKey,
  randomSerial as serial,
  x509,
} from './x509.js';

export interface TlsMaterial {
  /** PEM of the server certificate chain (leaf first). */
  cert: string;
  key: string;
  /** PEM of the platform CA that devices pin. */
  ca: string;
  caFile: string;
  /** PKCS#8 PEM of the platform CA key: signs the tenants' issuing CAs. */
  caKeyPem: string;
  generated: boolean;
  /** The server certificate came from MOORING_TLS_CERT_FILE, not from the platform CA. */
  operatorCertificate: boolean;
}

function writeSecret(path: string, data: string) {
  writeFileSync(path, data, { mode: 0o600 });
}

async function createCa(commonName: string) {
  const keys = await generateEcKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}, O=Mooring`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/**
 * Longest life of the generated server certificate, in days from its start (a day before it is made,
 * for clocks that lag) to its end: the 366 days of Mozilla's intermediate profile. It is issued anew
 * at a start in its last RENEW_BEFORE_DAYS, and a longer one (825 days before this limit) is replaced.
 */
export const SERVER_CERT_LIFETIME_DAYS = 366;

async function createServerCert(ca: { cert: x509.X509Certificate; key: CryptoKey }, names: string[]) {
  const keys = await generateEcKeys();
  const notBefore = Date.now() - DAY_MS;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0] ?? 'localhost'}, O=Mooring`,
    issuer: ca.cert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + SERVER_CERT_LIFETIME_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }) as const),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert, keys };
}

/** Days before expiry at which the generated server certificate is issued anew on start. */
const RENEW_BEFORE_DAYS = 30;

/**
 * Whether the generated server certificate on disk still fits: signed by the current CA, valid for more
 * than RENEW_BEFORE_DAYS, no longer-lived than SERVER_CERT_LIFETIME_DAYS, and naming every host asked
 * for.
 */
async function serverCertFits(certPem: string, caPem: string, names: string[]): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(certPem);
    const ca = new x509.X509Certificate(caPem);
    if (cert.issuer !== ca.subject || !(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })))
      return false;
    if (cert.notAfter.getTime() - Date.now() < RENEW_BEFORE_DAYS * DAY_MS) return false;
    if (cert.notAfter.getTime() - cert.notBefore.getTime() > SERVER_CERT_LIFETIME_DAYS * DAY_MS) return false;
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const have = new Set((san?.names.items ?? []).map((n) => n.value));
    return names.every((n) => have.has(n));
  } catch {
    return false;
  }
}

/** The platform CA key, sealed with the secret key (AES-256-GCM), under `<dataDir>/pki`. */
export const CA_KEY_SEALED_FILE = 'ca.key.sealed';

/**
 * Loads or creates the platform CA and the server certificate under `<dataDir>/pki`. The server
 * certificate is issued anew when it no longer fits (new host names, near expiry, another CA). With
 * operator-supplied files, those are served as they are and `operatorCertificate` is set: clients then
 * trust whatever CA signed them, not the platform CA.
 */
export async function ensureTlsMaterial(opts: {
  dataDir: string;
  certFile: string;
  keyFile: string;
  hostnames: readonly string[];
  /** Seals the platform CA key at rest (the secret key, like the tenant CA keys). */
  box: SecretBox;
}): Promise<TlsMaterial> {
  const dir = join(opts.dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const sealedKeyFile = join(dir, CA_KEY_SEALED_FILE);
  const plainKeyFile = join(dir, 'ca.key.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key.pem');
  let generated = false;

  // A data directory from before the key was sealed: seal it now and remove the plain copy.
  if (existsSync(plainKeyFile) && !existsSync(sealedKeyFile)) {
    writeSecret(sealedKeyFile, opts.box.seal(readFileSync(plainKeyFile, 'utf8')));
    rmSync(plainKeyFile);
  }
  if (!existsSync(caFile) || !existsSync(sealedKeyFile)) {
    const ca = await createCa('Mooring Platform CA');
    writeFileSync(caFile, ca.cert.toString('pem') + '\n', { mode: 0o600 });
    writeSecret(sealedKeyFile, opts.box.seal(await exportPkcs8Pem(ca.keys.privateKey)));
    generated = true;
  }
  const ca = readFileSync(caFile, 'utf8');
  const caKeyPem = opts.box.open(readFileSync(sealedKeyFile, 'utf8'));

  if (opts.certFile) {
    return {
      cert: readFileSync(opts.certFile, 'utf8'),
      key: readFileSync(opts.keyFile, 'utf8'),
      ca,
      caFile,
      caKeyPem,
      generated,
      operatorCertificate: true,
    };
  }
  const names = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...opts.hostnames])];
  const fits =
    existsSync(certFile) &&
    existsSync(keyFile) &&
    (await serverCertFits(readFileSync(certFile, 'utf8'), ca, names));
  if (!fits) {
    const caCert = new x509.X509Certificate(ca);
    const caKey = await importEcPrivateKey(caKeyPem);
    const server = await createServerCert({ cert: caCert, key: caKey }, names);
    writeFileSync(certFile, server.cert.toString('pem') + '\n' + ca, { mode: 0o600 });
    writeSecret(keyFile, await exportPkcs8Pem(server.keys.privateKey));
    generated = true;
  }
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    ca,
    caFile,
    caKeyPem,
    generated,
    operatorCertificate: false,
  };
}
