import { whenCommitted } from '../../store/ambient.js';
import { createHash } from 'node:crypto';
import { AppError, Errors } from '../../errors.js';
import { externalCas, toCa, type CaRecord } from './external-cas.js';
import { newId } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import type { AuditSink } from '../audit/audit.js';
import { deviceCaller, principalName } from '../../platform/caller.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { enqueue, type CommitHook } from '../../store/ambient.js';
import type { Db, Queryable } from '../../store/db.js';
import {
  DAY_MS,
  ECDSA_SHA256,
  exportPkcs8Pem,
  generateEcKeys,
  importEcPrivateKey,
  randomSerial,
  x509,
} from './x509.js';
import {
  BACKDATE_MS,
  deviceUri,
  type DeviceCertificate,
  type SignedCertificate,
  type IssuedCertificate,
  type PkiService,
} from './pki.js';

interface LoadedCa {
  id: string;
  tenantId: string;
  cert: x509.X509Certificate;
  pem: string;
  key: CryptoKey;
}

type CaRow = CaRecord;

interface CertRow {
  serial: string;
  tenant_id: string;
  device_id: string;
  ca_id: string;
  fingerprint: string;
  not_before: number;
  not_after: number;
  created_at: number;
  revoked_at: number | null;
  revocation_reason: string | null;
  pending: boolean;
}

export interface PkiDeps {
  db: Db;
  bus: Bus;
  box: SecretBox;
  root: { certPem: string; keyPem: string };
  certificateValidityDays: number;
  /** Certificate renewals, automatic revocations and just-in-time registrations for the audit trail. */
  audit?: AuditSink;
  now?: () => number;
}

const csrInvalid = (why: string) => new AppError('CSR_INVALID', why);
/** PEM blocks handed to devices end with a newline, so that they concatenate into a valid chain. */
const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** Node's fingerprint format: upper-case hex pairs joined by colons. */
function fingerprint256(der: ArrayBuffer): string {
  return createHash('sha256')
    .update(Buffer.from(der))
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

/** DER INTEGER for a non-negative number (the CRL number extension's value). */
function derInteger(n: number): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return new Uint8Array([0x02, body.length, ...body]).buffer;
}

/** What a certificate listing reads: everything but the PEM. */
const CERT_COLUMNS =
  'serial, tenant_id, device_id, ca_id, fingerprint, not_before, not_after, created_at, revoked_at, revocation_reason, pending';

const toCertificate = (r: CertRow): DeviceCertificate => ({
  serial: r.serial,
  deviceId: r.device_id,
  caId: r.ca_id,
  fingerprint: r.fingerprint,
  notBefore: r.not_before,
  notAfter: r.not_after,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  revocationReason: r.revocation_reason,
  pending: r.pending,
});

export async function createPkiService(deps: PkiDeps): Promise<PkiService> {
  const { db, bus, box } = deps;
  const now = deps.now ?? Date.now;
  const root = {
    cert: new x509.X509Certificate(deps.root.certPem),
    key: await importEcPrivateKey(deps.root.keyPem),
  };
  const cas = new Map<string, LoadedCa>();
  const crlCache = new Map<string, { pem: string; at: number }>();
  const trustListeners: (() => Promise<void>)[] = [];
  const reloadTrust = async () => {
    await Promise.all(trustListeners.map((reload) => reload()));
  };
  // Inside a transaction the listeners reload once it has committed (and not at all if it rolls
  // back): they read the trust list and CRLs from the store, and must see only what was committed.
  const afterCommit: CommitHook<null> = { afterCommit: reloadTrust };
  async function trustChanged() {
    if (!enqueue(afterCommit, null)) await reloadTrust();
  }
  /** The tenant's issuing CA exists and every listener trusts it (created and reloaded when new). */
  async function prepareTenant(tenantId: string): Promise<void> {
    const known = cas.size;
    await issuingCa(tenantId, db);
    if (cas.size !== known) await trustChanged();
  }
  const ext = externalCas({
    db,
    now,
    rootSubject: root.cert.subject,
    trustChanged,
    ...(deps.audit ? { audit: deps.audit } : {}),
  });

  async function load(row: CaRow): Promise<LoadedCa> {
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
  async function issuingCa(tenantId: string, q: Queryable): Promise<LoadedCa> {
    const [row] = await q.query<CaRow>(
      `SELECT * FROM certificate_authorities WHERE tenant_id = $1 AND kind = 'issuing'`,
      [tenantId],
    );
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
    const pem = cert.toString('pem');
    await q.query(
      `INSERT INTO certificate_authorities (id, tenant_id, kind, subject, cert_pem, sealed_key, created_at)
       VALUES ($1, $2, 'issuing', $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [id, tenantId, cert.subject, pem, box.seal(await exportPkcs8Pem(keys.privateKey)), t],
    );
    const [created] = await q.query<CaRow>(
      `SELECT * FROM certificate_authorities WHERE tenant_id = $1 AND kind = 'issuing'`,
      [tenantId],
    );
    return load(created!);
  }

  async function parseCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
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
    if (!valid)
      throw csrInvalid('the CSR signature does not verify: it must be signed by the key it carries');
    return csr;
  }

  /** The AuthorityKeyIdentifier of each issuing CA, computed once. */
  const akiCache = new Map<string, x509.AuthorityKeyIdentifierExtension>();
  /** Each issuing CA's chain (CA, then root) as one string that every certificate it signs shares. */
  const chainCache = new Map<string, string>();

  /**
   * Signs a device certificate from a CSR (CPU only, no write). The tenant's issuing CA must exist
   * (`prepareTenant`). `save` records it; call it inside the transaction that creates the device.
   */
  async function sign(
    tenantId: string,
    deviceId: string,
    csrPem: string,
    q: Queryable = db,
  ): Promise<SignedCertificate> {
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
    if (chain === undefined)
      chainCache.set(ca.id, (chain = withNewline(ca.pem) + withNewline(deps.root.certPem)));
    return {
      certificate: {
        serial,
        certificate: pem,
        chain,
        notBefore,
        notAfter,
      },
      async save(tx: Queryable) {
        await tx.query(
          `INSERT INTO device_certificates (serial, tenant_id, device_id, ca_id, fingerprint, cert_pem, not_before, not_after, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [serial, tenantId, deviceId, ca.id, fingerprint, pem, notBefore, notAfter, t],
        );
      },
    };
  }

  async function issue(
    tenantId: string,
    deviceId: string,
    csrPem: string,
    q: Queryable,
  ): Promise<IssuedCertificate> {
    const signed = await sign(tenantId, deviceId, csrPem, q);
    await signed.save(q);
    return signed.certificate;
  }

  /** Signs a CRL; OpenSSL reads CRLs only under the RFC 7468 label `X509 CRL`. */
  async function signCrl(
    issuer: { cert: x509.X509Certificate; key: CryptoKey },
    number: number,
    entries: { serial: string; at: number }[],
  ) {
    const t = now();
    const list = await x509.X509CrlGenerator.create({
      issuer: issuer.cert.subject,
      thisUpdate: new Date(t - BACKDATE_MS),
      nextUpdate: new Date(t + 7 * DAY_MS),
      entries: entries.map((e) => ({ serialNumber: e.serial, revocationDate: new Date(e.at) })),
      signingKey: issuer.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
        new x509.Extension('2.5.29.20', false, derInteger(number)),
      ],
    });
    return withNewline(list.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----'));
  }

  /**
   * The platform root's CRL. Node's TLS checks revocation along the whole chain once any CRL is
   * loaded, so the root needs one too; no issuing CA has been revoked, so it lists none.
   */
  let rootCrl: { pem: string; at: number } | undefined;
  async function rootCrlPem(): Promise<string> {
    if (!rootCrl || now() - rootCrl.at > DAY_MS)
      rootCrl = { pem: await signCrl(root, Math.floor(now() / 1000), []), at: now() };
    return rootCrl.pem;
  }

  async function crl(caId: string): Promise<string> {
    const cached = crlCache.get(caId);
    if (cached && now() - cached.at < DAY_MS) return cached.pem;
    const [row] = await db.query<CaRow>('SELECT * FROM certificate_authorities WHERE id = $1', [caId]);
    if (!row) throw new AppError('CA_NOT_FOUND', `no CA ${caId}`);
    if (row.kind === 'external') return row.external_crl_pem ?? '';
    const ca = await load(row);
    const revoked = await db.query<{ serial: string; revoked_at: number }>(
      'SELECT serial, revoked_at FROM device_certificates WHERE ca_id = $1 AND revoked_at IS NOT NULL ORDER BY revoked_at',
      [caId],
    );
    const [{ n }] = (await db.query<{ n: number }>(
      'UPDATE certificate_authorities SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number AS n',
      [caId],
    )) as [{ n: number }];
    const t = now();
    const pem = await signCrl(
      ca,
      n,
      revoked.map((r) => ({ serial: r.serial, at: r.revoked_at })),
    );
    crlCache.set(caId, { pem, at: t });
    return pem;
  }

  return {
    prepareTenant,

    async refreshTrust() {
      await trustChanged();
    },

    onTrustChanged(listener) {
      trustListeners.push(listener);
    },

    async checkCsr(csrPem) {
      await parseCsr(csrPem);
    },

    issue: (tenantId, deviceId, csrPem, tx) => issue(tenantId, deviceId, csrPem, tx ?? db),

    sign: (tenantId, deviceId, csrPem) => sign(tenantId, deviceId, csrPem),

    async renew(device, csrPem) {
      await prepareTenant(device.tenantId);
      const issued = await issue(device.tenantId, device.deviceId, csrPem, db);
      deps.audit?.({
        tenantId: device.tenantId,
        actor: principalName(deviceCaller(device).principal),
        action: 'certificate.renew',
        target: issued.serial,
        changes: { deviceId: device.deviceId, notAfter: issued.notAfter },
      });
      return issued;
    },

    async listForDevice(caller, deviceId) {
      const [device] = await db.query('SELECT id FROM devices WHERE tenant_id = $1 AND id = $2', [
        caller.tenantId,
        deviceId,
      ]);
      if (!device) throw Errors.deviceNotFound(deviceId);
      const rows = await db.query<CertRow>(
        `SELECT ${CERT_COLUMNS} FROM device_certificates WHERE tenant_id = $1 AND device_id = $2 ORDER BY created_at`,
        [caller.tenantId, deviceId],
      );
      return rows.map(toCertificate);
    },

    async revoke(caller, serial, reason) {
      const [row] = await db.query<CertRow>(
        `UPDATE device_certificates SET revoked_at = coalesce(revoked_at, $3), revocation_reason = coalesce(revocation_reason, $4)
          WHERE tenant_id = $1 AND serial = $2 RETURNING *`,
        [caller.tenantId, serial.toLowerCase(), now(), reason ?? 'revoked by an operator'],
      );
      if (!row) throw new AppError('CERTIFICATE_NOT_FOUND', `certificate ${serial} not found`);
      crlCache.delete(row.ca_id);
      whenCommitted(() => crlCache.delete(row.ca_id));
      // Returns once the listeners refuse the certificate at the handshake.
      await trustChanged();
      bus.publish('device.disconnect', {
        deviceId: row.device_id,
        reason: 'certificate_revoked',
        keyId: row.serial,
      });
    },

    async approve(caller, serial) {
      const [row] = await db.query<CertRow>(
        `UPDATE device_certificates SET pending = false WHERE tenant_id = $1 AND serial = $2
          RETURNING ${CERT_COLUMNS}`,
        [caller.tenantId, serial.toLowerCase()],
      );
      if (!row) throw new AppError('CERTIFICATE_NOT_FOUND', `certificate ${serial} not found`);
      return toCertificate(row);
    },

    async revokeAllForDevice(tenantId, deviceId, reason, exceptSerial) {
      const rows = await db.query<{ ca_id: string; serial: string }>(
        `UPDATE device_certificates SET revoked_at = $3, revocation_reason = $4
          WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL AND serial IS DISTINCT FROM $5 RETURNING ca_id, serial`,
        [tenantId, deviceId, now(), reason, exceptSerial ?? null],
      );
      if (rows.length === 0) return 0;
      for (const r of rows) crlCache.delete(r.ca_id);
      whenCommitted(() => rows.forEach((r) => crlCache.delete(r.ca_id)));
      deps.audit?.({
        tenantId,
        actor: 'system',
        action: 'certificate.revoke-all',
        target: deviceId,
        changes: { reason, serials: rows.map((r) => r.serial) },
      });
      await trustChanged();
      return rows.length;
    },

    crl,

    async trust() {
      const rows = await db.query<CaRow>(
        `SELECT * FROM certificate_authorities WHERE status = 'active' ORDER BY created_at`,
      );
      const pems: string[] = [];
      const crls: string[] = [await rootCrlPem()];
      for (const r of rows) {
        pems.push(r.cert_pem);
        crls.push(r.kind === 'external' ? (r.external_crl_pem ?? '') : await crl(r.id));
      }
      return { cas: pems, crls };
    },

    async authenticate(peer, claimedClientId) {
      const [row] = await db.query<CertRow & { status: string; ca_status: string; client_id: string | null }>(
        `SELECT c.*, d.status, a.status AS ca_status FROM device_certificates c
           JOIN devices d ON d.id = c.device_id AND d.tenant_id = c.tenant_id
           JOIN certificate_authorities a ON a.id = c.ca_id
          WHERE c.serial = $1`,
        [peer.serial.toLowerCase()],
      );
      if (!row) {
        const registered = await ext.registerJustInTime(peer);
        if (!registered) throw Errors.invalidCredentials();
        if (claimedClientId !== undefined && claimedClientId !== registered.clientId)
          throw Errors.invalidCredentials();
        if (registered.status === 'pending-certificate') throw new AppError('CERTIFICATE_PENDING');
        if (registered.status !== 'enabled') throw Errors.deviceDisabled(registered.deviceId);
        const { status: _status, ...device } = registered;
        return device;
      }
      if (row.fingerprint !== peer.fingerprint256) throw Errors.invalidCredentials();
      if (row.revoked_at !== null) throw new AppError('INVALID_CREDENTIALS', 'the certificate was revoked');
      if (row.pending) throw new AppError('CERTIFICATE_PENDING');
      if (row.ca_status !== 'active') throw new AppError('INVALID_CREDENTIALS', 'the issuing CA is disabled');
      const clientId = row.client_id ?? row.device_id;
      if (claimedClientId !== undefined && claimedClientId !== clientId) throw Errors.invalidCredentials();
      if (row.status !== 'enabled') throw Errors.deviceDisabled(row.device_id);
      return {
        tenantId: row.tenant_id,
        deviceId: row.device_id,
        credential: 'certificate',
        credentialId: row.serial,
        ...(row.client_id ? { clientId: row.client_id } : {}),
      };
    },

    createRegistrationCode: (caller) => ext.createRegistrationCode(caller),
    registerExternalCa: (caller, input) => ext.register(caller, input),
    async updateExternalCrl(caller, caId, crlPem) {
      for (const { deviceId, serial } of await ext.updateCrl(caller, caId, crlPem))
        bus.publish('device.disconnect', { deviceId, reason: 'certificate_revoked', keyId: serial });
    },

    async listCas(caller) {
      return (
        await db.query<CaRow>(
          'SELECT * FROM certificate_authorities WHERE tenant_id = $1 ORDER BY created_at',
          [caller.tenantId],
        )
      ).map(toCa);
    },

    async setCaStatus(caller, caId, status) {
      const row = await ext.require(caller, caId);
      if (row.kind !== 'external')
        throw new AppError(
          'VALIDATION_FAILED',
          "the tenant's issuing CA cannot be disabled; revoke certificates instead",
        );
      await db.query('UPDATE certificate_authorities SET status = $2 WHERE id = $1', [caId, status]);
      await trustChanged();
      if (status === 'disabled') {
        const devices = await db.query<{ device_id: string }>(
          'SELECT DISTINCT device_id FROM device_certificates WHERE ca_id = $1',
          [caId],
        );
        for (const d of devices)
          bus.publish('device.disconnect', { deviceId: d.device_id, reason: 'ca_disabled' });
      }
      return toCa((await ext.require(caller, caId))!);
    },
  };
}
