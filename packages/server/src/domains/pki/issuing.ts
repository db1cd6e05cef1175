/**
 * Issuing: each tenant's issuing CA (created under the platform root on first use) and device
 * certificates signed from CSRs the devices generated, after checking them (format, proof of
 * possession, key and hash strength).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Queryable } from '../../store/db.js';
import { BACKDATE_MS, deviceUri, type IssuedCertificate, type SignedCertificate } from './pki.js';
import type { CaRecord, PkiStore } from './store.js';
import {
  DAY_MS,
  ECDSA_SHA256,
  exportPkcs8Pem,
  generateEcKeys,
  importEcPrivateKey,
  randomSerial,
  x509,
} from './x509.js';

/** A CA that signs here: its certificate and its key, opened. */
export interface LoadedCa {
  id: string;
  tenantId: string;
  cert: x509.X509Certificate;
  pem: string;
  key: CryptoKey;
}

/** The platform root: signs the tenants' issuing CAs and its own (empty) CRL. */
export interface PlatformRoot {
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
}

const csrInvalid = (why: string) => new AppError('CSR_INVALID', why);
/** PEM blocks handed to devices end with a newline, so that they concatenate into a valid chain. */
export const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** Node's fingerprint format: upper-case hex pairs joined by colons. */
function fingerprint256(der: ArrayBuffer): string {
  return createHash('sha256')
    .update(Buffer.from(der))
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

/** Parses and checks a CSR; CSR_INVALID with the reason. */
export async function parseCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw csrInvalid('not a PEM-encoded PKCS#10 certificate request');
  }
  const hash = (csr.signatureAlgorithm as { hash?: { name?: string } }).hash?.name ?? '';
  if (!['SHA-256', 'SHA-384', 'SHA-512'].includes(hash))
    throw csrInvalid(`signature hash ${hash || 'unknown'} is not allowed; use SHA-256 or stronger`);
  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  if (alg.name === 'ECDSA') {
    if (alg.namedCurve !== 'P-256' && alg.namedCurve !== 'P-384')
      throw csrInvalid(`curve ${alg.namedCurve ?? 'unknown'} is not allowed; use P-256 or P-384`);
  } else if (alg.name === 'RSASSA-PKCS1-v1_5' || alg.name === 'RSA-PSS') {
    if ((alg.modulusLength ?? 0) < 2048)
      throw csrInvalid(`RSA key of ${alg.modulusLength ?? 0} bits is too weak; use 2048 bits or more`);
  } else {
    throw csrInvalid(`key type ${alg.name} is not allowed; use ECDSA P-256/P-384 or RSA 2048+`);
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw csrInvalid('the CSR signature does not verify: it must be signed by the key it carries');
  return csr;
}

export function createIssuing(deps: {
  store: PkiStore;
  /** The PKI store on a caller's transaction. */
  storeOn(q: Queryable): PkiStore;
  box: SecretBox;
  root: PlatformRoot;
  certificateValidityDays: number;
  now: () => number;
}) {
  const { store, box, root, now } = deps;
  const cas = new Map<string, LoadedCa>();

  async function load(row: CaRecord): Promise<LoadedCa> {
    const cached = cas.get(row.id);
    if (cached) return cached;
    if (!row.sealed_key) throw new Error(`CA ${row.id} holds no key here`);
    const ca = {
      id: row.id,
      tenantId: row.tenant_id,
      cert: new x509.X509Certificate(row.cert_pem),
      pem: row.cert_pem,
      key: await importEcPrivateKey(box.open(row.sealed_key)),
    };
    cas.set(row.id, ca);
    return ca;
  }

  /** The tenant's issuing CA, created under the platform root on first use. */
  async function issuingCa(tenantId: string, q: PkiStore): Promise<LoadedCa> {
    const row = await q.issuingCa(tenantId);
    if (row) return load(row);
    const keys = await generateEcKeys();
    const t = now();
    const id = newId('ca', t);
    const notAfter = Math.min(t + 3650 * DAY_MS, root.cert.notAfter.getTime());
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Named by the opaque CA id, not the tenant id: TLS servers list their CAs to every client.
      subject: `CN=Mooring Issuing CA ${id}, O=Mooring`,
      issuer: root.cert.subject,
      notBefore: new Date(t - BACKDATE_MS),
      notAfter: new Date(notAfter),
      publicKey: keys.publicKey,
      signingKey: root.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(root.cert),
      ],
    });
    await q.insertIssuingCa({
      id,
      tenantId,
      subject: cert.subject,
      certPem: cert.toString('pem'),
      sealedKey: box.seal(await exportPkcs8Pem(keys.privateKey)),
      createdAt: t,
    });
    return load((await q.issuingCa(tenantId))!);
  }

  /** The AuthorityKeyIdentifier of each issuing CA, computed once. */
  const akiCache = new Map<string, x509.AuthorityKeyIdentifierExtension>();
  /** Each issuing CA's chain (CA, then root) as one string that every certificate it signs shares. */
  const chainCache = new Map<string, string>();

  /**
   * Signs a device certificate from a CSR (CPU only, no write). The tenant's issuing CA must exist
   * (`prepareTenant`). `record` stores it on a PKI store.
   */
  async function signOnly(tenantId: string, deviceId: string, csrPem: string, q: PkiStore) {
    const csr = await parseCsr(csrPem);
    const ca = await issuingCa(tenantId, q);
    let aki = akiCache.get(ca.id);
    if (!aki) akiCache.set(ca.id, (aki = await x509.AuthorityKeyIdentifierExtension.create(ca.cert)));
    const t = now();
    const serial = randomSerial();
    const notBefore = t - BACKDATE_MS;
    const notAfter = Math.min(t + deps.certificateValidityDays * DAY_MS, ca.cert.notAfter.getTime());
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${deviceId}, O=${tenantId}`,
      issuer: ca.cert.subject,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: csr.publicKey,
      signingKey: ca.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: deviceUri(tenantId, deviceId) }]),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        aki,
      ],
    });
    const pem = withNewline(cert.toString('pem'));
    const fingerprint = fingerprint256(cert.rawData);
    let chain = chainCache.get(ca.id);
    if (chain === undefined) chainCache.set(ca.id, (chain = withNewline(ca.pem) + withNewline(root.certPem)));
    const certificate: IssuedCertificate = { serial, certificate: pem, chain, notBefore, notAfter };
    const record = (on: PkiStore) =>
      on.insertCertificate({
        serial,
        tenantId,
        deviceId,
        caId: ca.id,
        fingerprint,
        certPem: pem,
        notBefore,
        notAfter,
        createdAt: t,
      });
    return { certificate, record };
  }

  /** Signs without writing; `save` records it in the transaction that creates the device. */
  async function sign(tenantId: string, deviceId: string, csrPem: string): Promise<SignedCertificate> {
    const { certificate, record } = await signOnly(tenantId, deviceId, csrPem, store);
    return { certificate, save: (tx: Queryable) => record(deps.storeOn(tx)) };
  }

  /** Signs and records a certificate in the caller's transaction `tx`, or through the store. */
  async function issue(
    tenantId: string,
    deviceId: string,
    csrPem: string,
    tx?: Queryable,
  ): Promise<IssuedCertificate> {
    const on = tx ? deps.storeOn(tx) : store;
    const { certificate, record } = await signOnly(tenantId, deviceId, csrPem, on);
    await record(on);
    return certificate;
  }

  return {
    load,
    issuingCa,
    sign,
    issue,
    /** How many CAs are loaded: a change means a tenant's issuing CA was just created. */
    loaded: () => cas.size,
  };
}
export type Issuing = ReturnType<typeof createIssuing>;
