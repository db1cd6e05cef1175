/**
 * Revocation and CRLs: revoking one certificate or all of a device's, approving a pending one, and
 * the CRL of each CA (signed here for the platform root and the issuing CAs, as uploaded for a
 * manufacturer CA), cached for a day.
 */
import { AppError } from '../../errors.js';
import type { Notifier } from '../../platform/notifier.js';
import type { TenantCaller } from '../../platform/caller.js';
import { whenCommitted } from '../../store/ambient.js';
import type { AuditSink } from '../audit/audit.js';
import { withNewline, type LoadedCa, type PlatformRoot } from './issuing.js';
import { BACKDATE_MS, type DeviceCertificate } from './pki.js';
import type { CaRecord, PkiStore } from './store.js';
import { DAY_MS, ECDSA_SHA256, x509 } from './x509.js';

/** DER INTEGER for a non-negative number (the CRL number extension's value). */
function derInteger(n: number): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return new Uint8Array([0x02, body.length, ...body]).buffer;
}

export function createRevocation(deps: {
  store: PkiStore;
  bus: Notifier;
  root: PlatformRoot;
  /** Opens an issuing CA's key to sign its CRL. */
  loadCa(row: CaRecord): Promise<LoadedCa>;
  trustChanged(): Promise<void>;
  audit?: AuditSink;
  now: () => number;
}) {
  const { store, bus, now } = deps;
  const crlCache = new Map<string, { pem: string; at: number }>();

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
      rootCrl = { pem: await signCrl(deps.root, Math.floor(now() / 1000), []), at: now() };
    return rootCrl.pem;
  }

  async function crl(caId: string): Promise<string> {
    const cached = crlCache.get(caId);
    if (cached && now() - cached.at < DAY_MS) return cached.pem;
    const row = await store.ca(caId);
    if (!row) throw new AppError('CA_NOT_FOUND', `no CA ${caId}`);
    if (row.kind === 'external') return row.external_crl_pem ?? '';
    const ca = await deps.loadCa(row);
    const revoked = await store.revokedOf(caId);
    const n = await store.nextCrlNumber(caId);
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
    crl,
    rootCrlPem,

    /** Revokes by serial: returns once the listeners refuse it; live sessions that used it are dropped. */
    async revoke(caller: TenantCaller, serial: string, reason?: string): Promise<{ deviceId: string }> {
      const row = await store.revoke(
        caller.tenantId,
        serial.toLowerCase(),
        now(),
        reason ?? 'revoked by an operator',
      );
      if (!row) throw new AppError('CERTIFICATE_NOT_FOUND', `certificate ${serial} not found`);
      crlCache.delete(row.ca_id);
      whenCommitted(() => crlCache.delete(row.ca_id));
      // Returns once the listeners refuse the certificate at the handshake.
      await deps.trustChanged();
      bus.publish('device.disconnect', {
        deviceId: row.device_id,
        reason: 'certificate_revoked',
        keyId: row.serial,
      });
      return { deviceId: row.device_id };
    },

    async approve(caller: TenantCaller, serial: string): Promise<DeviceCertificate> {
      const cert = await store.approve(caller.tenantId, serial.toLowerCase());
      if (!cert) throw new AppError('CERTIFICATE_NOT_FOUND', `certificate ${serial} not found`);
      return cert;
    },

    async revokeAllForDevice(
      tenantId: string,
      deviceId: string,
      reason: string,
      exceptSerial?: string,
    ): Promise<number> {
      const rows = await store.revokeAllForDevice(tenantId, deviceId, now(), reason, exceptSerial ?? null);
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
      await deps.trustChanged();
      return rows.length;
    },

    async revokeAllForDevices(tenantId: string, deviceIds: readonly string[], reason: string) {
      const rows = await store.revokeAllForDevices(tenantId, deviceIds, now(), reason);
      if (rows.length === 0) return [];
      const cas = new Set(rows.map((r) => r.ca_id));
      for (const ca of cas) crlCache.delete(ca);
      whenCommitted(() => cas.forEach((ca) => crlCache.delete(ca)));
      // Inside the caller's transaction the listeners reload once it has committed.
      await deps.trustChanged();
      return rows.map((r) => ({ deviceId: r.device_id, serial: r.serial }));
    },
  };
}
