/**
 * SQL for the device PKI: certificate authorities (each tenant's issuing CA, registered manufacturer
 * CAs), device certificates and CA registration codes.
 */
import type { Queryable } from '../../store/db.js';
import type { CertificateAuthority, DeviceCertificate } from './pki.js';

export interface CaRecord {
  id: string;
  tenant_id: string;
  kind: 'issuing' | 'external';
  subject: string;
  cert_pem: string;
  sealed_key: string | null;
  status: 'active' | 'disabled';
  crl_number: number;
  registration_policy: 'auto' | 'pending' | null;
  device_tags: string[];
  external_crl_pem: string | null;
  fingerprint: string | null;
  created_at: number;
}

export interface CertRow {
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

export const toCa = (r: CaRecord): CertificateAuthority => ({
  id: r.id,
  kind: r.kind,
  subject: r.subject,
  fingerprint: r.fingerprint,
  status: r.status,
  registrationPolicy: r.registration_policy,
  deviceTags: r.device_tags,
  createdAt: r.created_at,
});

export const toCertificate = (r: CertRow): DeviceCertificate => ({
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

/** What a certificate listing reads: everything but the PEM. */
const CERT_COLUMNS =
  'serial, tenant_id, device_id, ca_id, fingerprint, not_before, not_after, created_at, revoked_at, revocation_reason, pending';

/** A device certificate as it is first stored. */
export interface NewCertificate {
  serial: string;
  tenantId: string;
  deviceId: string;
  caId: string;
  fingerprint: string;
  certPem: string;
  notBefore: number;
  notAfter: number;
  createdAt: number;
}

/**
 * The INSERT of an outbox fact per row of the CTE `rows` (serial, tenant_id, device_id), with `more`
 * members: facts of certificates are written by the statement that changes the certificate.
 */
function factOf(type: string, rows: string, more: string): string {
  return `INSERT INTO outbox (type, payload)
    SELECT '${type}', jsonb_build_object('tenantId', ${rows}.tenant_id, 'deviceId', ${rows}.device_id,
                                         'serial', ${rows}.serial, ${more}) FROM ${rows}`;
}

export function pkiStore(db: Queryable) {
  const insertCertificateRow = async (
    c: NewCertificate,
    presented: { clientId: string | null; pending: boolean },
    onConflict: string,
  ) => {
    // The certificate.issued fact is written by the same statement: it exists exactly when the row does.
    await db.query(
      `WITH c AS (
         INSERT INTO device_certificates (serial, tenant_id, device_id, ca_id, fingerprint, cert_pem, not_before, not_after, created_at, client_id, pending)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ${onConflict}
         RETURNING serial, tenant_id, device_id, ca_id, fingerprint, not_before, not_after, created_at, pending)
       ${factOf('certificate.issued', 'c', `'caId', c.ca_id, 'fingerprint', c.fingerprint, 'notBefore', c.not_before, 'notAfter', c.not_after, 'pending', c.pending, 'at', c.created_at`)}`,
      [
        c.serial,
        c.tenantId,
        c.deviceId,
        c.caId,
        c.fingerprint,
        c.certPem,
        c.notBefore,
        c.notAfter,
        c.createdAt,
        presented.clientId,
        presented.pending,
      ],
    );
  };
  return {
    // Certificate authorities

    async issuingCa(tenantId: string): Promise<CaRecord | undefined> {
      const [row] = await db.query<CaRecord>(
        `SELECT * FROM certificate_authorities WHERE tenant_id = $1 AND kind = 'issuing'`,
        [tenantId],
      );
      return row;
    },
    /** Stores a tenant's issuing CA unless another was stored meanwhile. */
    async insertIssuingCa(ca: {
      id: string;
      tenantId: string;
      subject: string;
      certPem: string;
      sealedKey: string;
      createdAt: number;
    }): Promise<void> {
      await db.query(
        `INSERT INTO certificate_authorities (id, tenant_id, kind, subject, cert_pem, sealed_key, created_at)
         VALUES ($1, $2, 'issuing', $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [ca.id, ca.tenantId, ca.subject, ca.certPem, ca.sealedKey, ca.createdAt],
      );
    },
    async ca(id: string): Promise<CaRecord | undefined> {
      const [row] = await db.query<CaRecord>('SELECT * FROM certificate_authorities WHERE id = $1', [id]);
      return row;
    },
    async tenantCa(tenantId: string, id: string): Promise<CaRecord | undefined> {
      const [row] = await db.query<CaRecord>(
        'SELECT * FROM certificate_authorities WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return row;
    },
    async listCas(tenantId: string): Promise<CaRecord[]> {
      return db.query<CaRecord>(
        'SELECT * FROM certificate_authorities WHERE tenant_id = $1 ORDER BY created_at',
        [tenantId],
      );
    },
    /** Every active CA of every tenant, oldest first: the listeners' trust list. */
    async activeCas(): Promise<CaRecord[]> {
      return db.query<CaRecord>(
        `SELECT * FROM certificate_authorities WHERE status = 'active' ORDER BY created_at`,
      );
    },
    async setCaStatus(id: string, status: 'active' | 'disabled'): Promise<void> {
      await db.query('UPDATE certificate_authorities SET status = $2 WHERE id = $1', [id, status]);
    },
    /** The next number of a CA's CRL. */
    async nextCrlNumber(caId: string): Promise<number> {
      const [{ n }] = (await db.query<{ n: number }>(
        'UPDATE certificate_authorities SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number AS n',
        [caId],
      )) as [{ n: number }];
      return n;
    },

    // Manufacturer CAs

    async subjectTaken(subject: string): Promise<boolean> {
      const taken = await db.query(`SELECT id FROM certificate_authorities WHERE subject = $1`, [subject]);
      return taken.length > 0;
    },
    async fingerprintTaken(fingerprint: string): Promise<boolean> {
      const clash = await db.query('SELECT id FROM certificate_authorities WHERE fingerprint = $1', [
        fingerprint,
      ]);
      return clash.length > 0;
    },
    async activeExternalCa(fingerprint: string): Promise<CaRecord | undefined> {
      const [ca] = await db.query<CaRecord>(
        `SELECT * FROM certificate_authorities WHERE fingerprint = $1 AND kind = 'external' AND status = 'active'`,
        [fingerprint],
      );
      return ca;
    },
    async insertExternalCa(ca: {
      id: string;
      tenantId: string;
      subject: string;
      certPem: string;
      registrationPolicy: 'auto' | 'pending';
      deviceTags: string[];
      crlPem: string;
      fingerprint: string;
      createdAt: number;
    }): Promise<void> {
      await db.query(
        `INSERT INTO certificate_authorities (id, tenant_id, kind, subject, cert_pem, status, registration_policy, device_tags, external_crl_pem, fingerprint, created_at)
         VALUES ($1, $2, 'external', $3, $4, 'active', $5, $6, $7, $8, $9)`,
        [
          ca.id,
          ca.tenantId,
          ca.subject,
          ca.certPem,
          ca.registrationPolicy,
          ca.deviceTags,
          ca.crlPem,
          ca.fingerprint,
          ca.createdAt,
        ],
      );
    },
    async setExternalCrl(caId: string, crlPem: string): Promise<void> {
      await db.query('UPDATE certificate_authorities SET external_crl_pem = $2 WHERE id = $1', [
        caId,
        crlPem,
      ]);
    },
    async insertRegistrationCode(tenantId: string, code: string, at: number, expiresAt: number) {
      await db.query(
        'INSERT INTO ca_registration_codes (tenant_id, code, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [tenantId, code, at, expiresAt],
      );
    },
    /** Spends a current registration code of the tenant; whether there was one. */
    async useRegistrationCode(tenantId: string, code: string, at: number): Promise<boolean> {
      const used = await db.query(
        'UPDATE ca_registration_codes SET used_at = $3 WHERE tenant_id = $1 AND code = $2 AND used_at IS NULL AND expires_at > $3 RETURNING code',
        [tenantId, code, at],
      );
      return used.length > 0;
    },

    // Device certificates

    async insertCertificate(c: NewCertificate): Promise<void> {
      await insertCertificateRow(c, { clientId: null, pending: false }, '');
    },
    /** A manufacturer certificate presented by its device, unless its serial is known already. */
    async insertPresentedCertificate(
      c: NewCertificate & { clientId: string; pending: boolean },
    ): Promise<void> {
      await insertCertificateRow(c, c, 'ON CONFLICT (serial) DO NOTHING');
    },
    async listForDevice(tenantId: string, deviceId: string): Promise<DeviceCertificate[]> {
      const rows = await db.query<CertRow>(
        `SELECT ${CERT_COLUMNS} FROM device_certificates WHERE tenant_id = $1 AND device_id = $2 ORDER BY created_at`,
        [tenantId, deviceId],
      );
      return rows.map(toCertificate);
    },
    /** Revokes one certificate (a second revocation keeps the first date and reason). */
    async revoke(tenantId: string, serial: string, at: number, reason: string): Promise<CertRow | undefined> {
      // The first revocation writes its certificate.revoked fact in the same statement.
      const [row] = await db.query<CertRow>(
        `WITH p AS (SELECT serial, revoked_at AS was FROM device_certificates
                     WHERE tenant_id = $1 AND serial = $2 FOR UPDATE),
              r AS (UPDATE device_certificates c SET revoked_at = coalesce(c.revoked_at, $3),
                           revocation_reason = coalesce(c.revocation_reason, $4)
                      FROM p WHERE c.tenant_id = $1 AND c.serial = p.serial RETURNING c.*, p.was),
              f AS (${factOf('certificate.revoked', 'r', `'reason', r.revocation_reason, 'at', r.revoked_at`)} WHERE r.was IS NULL)
         SELECT * FROM r`,
        [tenantId, serial, at, reason],
      );
      if (row) delete (row as Partial<CertRow & { was: unknown }>).was;
      return row;
    },
    async approve(tenantId: string, serial: string): Promise<DeviceCertificate | undefined> {
      const [row] = await db.query<CertRow>(
        `UPDATE device_certificates SET pending = false WHERE tenant_id = $1 AND serial = $2
          RETURNING ${CERT_COLUMNS}`,
        [tenantId, serial],
      );
      return row && toCertificate(row);
    },
    async revokeAllForDevice(
      tenantId: string,
      deviceId: string,
      at: number,
      reason: string,
      exceptSerial: string | null,
    ): Promise<{ ca_id: string; serial: string }[]> {
      return db.query<{ ca_id: string; serial: string }>(
        `WITH r AS (UPDATE device_certificates SET revoked_at = $3, revocation_reason = $4
                     WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL AND serial IS DISTINCT FROM $5
                     RETURNING ca_id, serial, tenant_id, device_id, revocation_reason, revoked_at),
              f AS (${factOf('certificate.revoked', 'r', `'reason', r.revocation_reason, 'at', r.revoked_at`)})
         SELECT ca_id, serial FROM r`,
        [tenantId, deviceId, at, reason, exceptSerial],
      );
    },
    /** Revokes every live certificate of these devices, each with its certificate.revoked fact. */
    async revokeAllForDevices(
      tenantId: string,
      deviceIds: readonly string[],
      at: number,
      reason: string,
    ): Promise<{ ca_id: string; serial: string; device_id: string }[]> {
      return db.query<{ ca_id: string; serial: string; device_id: string }>(
        `WITH r AS (UPDATE device_certificates SET revoked_at = $3, revocation_reason = $4
                     WHERE tenant_id = $1 AND device_id = ANY($2::text[]) AND revoked_at IS NULL
                     RETURNING ca_id, serial, tenant_id, device_id, revocation_reason, revoked_at),
              f AS (${factOf('certificate.revoked', 'r', `'reason', r.revocation_reason, 'at', r.revoked_at`)})
         SELECT ca_id, serial, device_id FROM r`,
        [tenantId, deviceIds, at, reason],
      );
    },
    /** Revokes the live certificates of a CA whose serials (without leading zeros) are listed. */
    async revokeListed(
      tenantId: string,
      caId: string,
      serials: string[],
      at: number,
      reason: string,
    ): Promise<{ device_id: string; serial: string }[]> {
      return db.query<{ device_id: string; serial: string }>(
        `WITH r AS (UPDATE device_certificates SET revoked_at = $4, revocation_reason = $5
                     WHERE tenant_id = $1 AND ca_id = $2 AND ltrim(serial, '0') = ANY($3::text[]) AND revoked_at IS NULL
                     RETURNING device_id, serial, tenant_id, revocation_reason, revoked_at),
              f AS (${factOf('certificate.revoked', 'r', `'reason', r.revocation_reason, 'at', r.revoked_at`)})
         SELECT device_id, serial FROM r`,
        [tenantId, caId, serials, at, reason],
      );
    },
    /** A CA's revoked certificates, in revocation order: what its CRL lists. */
    async revokedOf(caId: string): Promise<{ serial: string; revoked_at: number }[]> {
      return db.query<{ serial: string; revoked_at: number }>(
        'SELECT serial, revoked_at FROM device_certificates WHERE ca_id = $1 AND revoked_at IS NOT NULL ORDER BY revoked_at',
        [caId],
      );
    },
    async devicesOfCa(caId: string): Promise<string[]> {
      const rows = await db.query<{ device_id: string }>(
        'SELECT DISTINCT device_id FROM device_certificates WHERE ca_id = $1',
        [caId],
      );
      return rows.map((r) => r.device_id);
    },
    /** A certificate by serial, with its device's status and its CA's status. */
    async forAuthentication(
      serial: string,
    ): Promise<(CertRow & { status: string; ca_status: string; client_id: string | null }) | undefined> {
      const [row] = await db.query<CertRow & { status: string; ca_status: string; client_id: string | null }>(
        `SELECT c.*, d.status, a.status AS ca_status FROM device_certificates c
           JOIN devices d ON d.id = c.device_id AND d.tenant_id = c.tenant_id
           JOIN certificate_authorities a ON a.id = c.ca_id
          WHERE c.serial = $1`,
        [serial],
      );
      return row;
    },
  };
}
export type PkiStore = ReturnType<typeof pkiStore>;
