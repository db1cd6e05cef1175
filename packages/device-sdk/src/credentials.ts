/**
 * What a device keeps between boots, behind a small interface. The default store is one JSON file
 * readable by its owner only, written atomically. The private key never leaves the device: it is
 * generated here and only its CSR is sent.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Credentials {
  deviceId: string;
  /**
   * A device access key (`dak_…`) made for it by an operator, for devices that are not provisioned:
   * used as the MQTT password instead of the registration token, which is then not refreshed.
   */
  accessKey?: string;
  /** The provisioning token the device was provisioned with: it refreshes registration tokens. */
  provisioningToken: string;
  registrationToken: string;
  registrationTokenExpiresAt: number;
  /** When this device received the token: with the expiry, its lifetime. */
  registrationTokenIssuedAt?: number;
  /** PKCS#8 PEM of the device key, when the device has a certificate. */
  privateKeyPem?: string;
  certificatePem?: string;
  chainPem?: string;
  certificateNotBefore?: number;
  certificateNotAfter?: number;
}

export interface CredentialStore {
  load(): Promise<Credentials | undefined>;
  save(credentials: Credentials): Promise<void>;
  clear(): Promise<void>;
}

export class FileCredentialStore implements CredentialStore {
  constructor(private readonly path: string) {}

  async load(): Promise<Credentials | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as Credentials;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async save(credentials: Credentials): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(credentials, null, 2), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

export class MemoryCredentialStore implements CredentialStore {
  private value: Credentials | undefined;
  constructor(initial?: Credentials) {
    this.value = initial;
  }
  async load() {
    return this.value;
  }
  async save(c: Credentials) {
    this.value = { ...c };
  }
  async clear() {
    this.value = undefined;
  }
}
