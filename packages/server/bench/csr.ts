/**
 * Device keys, PKCS#10 CSRs and certificate checks for the bulk-provisioning and mutual-TLS
 * measurements, made the way a factory line's tooling would: ECDSA P-256 keys from WebCrypto and CSRs
 * signed with SHA-256 by @peculiar/x509, all in-process (no openssl per unit), before anything is timed.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { mapLimit } from './stats.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

export interface GeneratedCsrs {
  /** PEM CSRs, in order; subject CN=<cnPrefix><i>. */
  csrs: string[];
  /** PKCS#8 PEM private keys of the first `keep` CSRs (the others' keys are dropped). */
  keys: string[];
  ms: number;
}

/**
 * `count` key pairs and CSRs. WebCrypto's key generation and signing run on libuv's thread pool, so
 * `concurrency` of them in flight use both cores; the ASN.1 encoding runs on this thread.
 */
export async function generateCsrs(
  count: number,
  keep: number,
  cnPrefix: string,
  concurrency = 32,
): Promise<GeneratedCsrs> {
  const t0 = performance.now();
  const keys: string[] = [];
  const csrs = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const pair = await keyPair();
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${cnPrefix}${i}`,
        keys: pair,
        signingAlgorithm: ECDSA_SHA256,
      });
      if (i < keep) keys[i] = await privateKeyPem(pair.privateKey);
      return csr.toString('pem');
    },
  );
  return { csrs, keys, ms: Math.round(performance.now() - t0) };
}

/** A self-signed client certificate and its key: one no Mooring CA issued (the refusal control). */
export async function foreignCertificate(): Promise<{ key: string; cert: string }> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=not issued by Mooring',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false)],
  });
  return { key: await privateKeyPem(keys.privateKey), cert: cert.toString('pem') };
}

/** Splits concatenated PEM certificates. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

export interface CertificateCheck {
  /** Signed by the first certificate of the chain (the issuing CA). */
  signatureByIssuingCa: boolean;
  issuerIsIssuingCa: boolean;
  /** The chain's last certificate is the platform root, and it signed the issuing CA. */
  chainEndsAtPlatformRoot: boolean;
  serialMatchesManifest: boolean;
  /** The certificate carries the public key of the CSR it was made from. */
  keyMatchesCsr: boolean;
  /** Subject CN and the SAN URI name the device id of the manifest entry. */
  namesDevice: boolean;
  notAfterMatchesManifest: boolean;
}

/** Checks a manifest entry's certificate with @peculiar/x509 (independently of openssl). */
export async function checkCertificate(
  entry: {
    deviceId: string;
    certificate: string;
    chain: string;
    certificateSerial: string;
    notAfter: number;
  },
  csrPem: string,
  platformCaPem: string,
): Promise<CertificateCheck> {
  const leaf = new x509.X509Certificate(entry.certificate);
  const [issuingPem, rootPem] = pemBlocks(entry.chain);
  const issuing = new x509.X509Certificate(issuingPem ?? '');
  const root = new x509.X509Certificate(rootPem ?? '');
  const platformRoot = new x509.X509Certificate(platformCaPem);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  return {
    signatureByIssuingCa: await leaf.verify({ publicKey: issuing, signatureOnly: true }),
    issuerIsIssuingCa: leaf.issuer === issuing.subject,
    chainEndsAtPlatformRoot:
      Buffer.from(root.rawData).equals(Buffer.from(platformRoot.rawData)) &&
      (await issuing.verify({ publicKey: platformRoot, signatureOnly: true })),
    serialMatchesManifest: leaf.serialNumber.toLowerCase() === entry.certificateSerial.toLowerCase(),
    keyMatchesCsr: Buffer.from(leaf.publicKey.rawData).equals(Buffer.from(csr.publicKey.rawData)),
    namesDevice:
      leaf.subjectName.getField('CN')[0] === entry.deviceId &&
      uris.some((u) => u.endsWith(`:${entry.deviceId}`)),
    notAfterMatchesManifest: Math.abs(leaf.notAfter.getTime() - entry.notAfter) < 1000,
  };
}
