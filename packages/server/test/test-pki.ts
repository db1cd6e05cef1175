/**
 * Throwaway certificates for tests: a CA, and leaves it signs for a server (its names as subject
 * alternative names) or a client (its subject), made with the platform's own X.509 helpers.
 */
import {
  DAY_MS,
  ECDSA_SHA256,
  exportPkcs8Pem,
  generateEcKeys,
  randomSerial,
  x509,
} from '../src/domains/pki/x509.js';

export interface Authority {
  pem: string;
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}
export interface Leaf {
  cert: string;
  key: string;
}

export async function authority(name: string): Promise<Authority> {
  const keys = await generateEcKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  return { pem: cert.toString('pem'), cert, keys };
}

/** A leaf of `ca` for a server (its names as subject alternative names) or a client (its CN). */
export async function leaf(
  ca: Authority,
  subject: string,
  use: 'server' | 'client',
  names: { type: 'ip' | 'dns'; value: string }[] = [],
): Promise<Leaf> {
  const keys = await generateEcKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.ExtendedKeyUsageExtension([
        use === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportPkcs8Pem(keys.privateKey) };
}
