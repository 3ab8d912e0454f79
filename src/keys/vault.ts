// Secrets at rest (our private keys, peers' broker URLs): AES-256-GCM under KEY_ENCRYPTION_KEY
// (from the environment, never stored), with what the secret belongs to (a kid, a peer) as
// associated data so that a sealed value moved onto another row does not open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const PREFIX = 'v1';

/** A sealed value that does not open under this KEY_ENCRYPTION_KEY (another key, or altered). */
export class WrongKeyError extends Error {}

export class Vault {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('KEY_ENCRYPTION_KEY must be 32 bytes');
  }

  seal(owner: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(owner));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [PREFIX, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  /** Throws when the text was sealed under another key, for another owner, or altered. */
  open(owner: string, sealed: string): string {
    const [prefix, iv, tag, ciphertext] = sealed.split('.');
    if (prefix !== PREFIX || !iv || !tag || ciphertext === undefined) throw new Error(`${owner} is not sealed`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url')).setAAD(Buffer.from(owner));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new WrongKeyError(`${owner} does not open under this KEY_ENCRYPTION_KEY`, { cause: error });
    }
  }

  static isSealed(text: string): boolean {
    return text.startsWith(`${PREFIX}.`);
  }
}
