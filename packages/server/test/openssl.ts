/** Certificates and keys made with the openssl command line, the way a device or a manufacturer would. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input ? { input } : {}),
  });
}

const EC_P256 = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** A key and CSR made the way a device would: the private key stays with the caller. */
export function deviceKeyAndCsr(
  work: string,
  opts: { algo?: string[]; digest?: string; cn?: string } = {},
): { key: string; csr: string } {
  const keyFile = join(work, `k${Math.random()}.pem`);
  openssl(['genpkey', ...(opts.algo ?? EC_P256), '-out', keyFile]);
  const csr = openssl([
    'req',
    '-new',
    '-key',
    keyFile,
    `-${opts.digest ?? 'sha256'}`,
    '-subj',
    `/CN=${opts.cn ?? 'device'}`,
  ]);
  return { key: readFileSync(keyFile, 'utf8'), csr };
}

export interface TestCa {
  keyFile: string;
  certFile: string;
  keyPem: string;
  certPem: string;
}

/** A self-signed CA (a manufacturer's, or an impostor's). */
export function makeCa(work: string, name: string): TestCa {
  const keyFile = join(work, `${name}.key`);
  const certFile = join(work, `${name}.pem`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '30',
    '-subj',
    `/CN=${name}/O=Test Devices`,
  ]);
  return {
    keyFile,
    certFile,
    keyPem: readFileSync(keyFile, 'utf8'),
    certPem: readFileSync(certFile, 'utf8'),
  };
}

/** A key and a certificate for `cn` signed by `ca`. */
export function issueWithCa(work: string, ca: TestCa, cn: string): { key: string; cert: string } {
  const key = join(work, `${cn}-${Math.random()}.key`);
  const csr = join(work, `${cn}-${Math.random()}.csr`);
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${cn}`,
  ]);
  const cert = openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
  ]);
  return { key: readFileSync(key, 'utf8'), cert };
}
