import { readFileSync } from 'node:fs';
import type { RuntimeFile } from '../config.js';
import { ConfigError } from '../config.js';
import type { KeyObject } from 'node:crypto';
import { publicKeyOf, signingKey } from './retention.js';
import { keyring, parseKeyMaterial, type Keyring } from './sealed.js';

type ComplianceConfig = NonNullable<NonNullable<RuntimeFile['audit']>['compliance']>;

/** The text behind an `env:` or `file:` reference. */
export function secretText(ref: string, label: string, env: Readonly<Record<string, string | undefined>>): string {
  if (ref.startsWith('env:')) {
    const value = env[ref.slice('env:'.length)];
    if (value === undefined || value === '') throw new ConfigError(`${label}: ${ref} is not set`);
    return value;
  }
  try {
    return readFileSync(ref.slice('file:'.length), 'utf8');
  } catch (error) {
    throw new ConfigError(`${label}: cannot read ${ref.slice('file:'.length)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

type RetentionConfig = NonNullable<NonNullable<RuntimeFile['audit']>['retention']>;

/** The retention signing key and the public half verifiers compare tombstones with. */
export function resolveRetentionKey(config: RetentionConfig, env: Readonly<Record<string, string | undefined>>): { key: KeyObject; publicKey: string } {
  const label = 'audit.retention.signingKey';
  try {
    const key = signingKey(secretText(config.signingKey, label, env), label);
    return { key, publicKey: publicKeyOf(key) };
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** Resolves the compliance keys' `env:` and `file:` references; every problem names the key. */
export function resolveKeyring(config: ComplianceConfig, env: Readonly<Record<string, string | undefined>>): Keyring {
  const keys = config.keys.map((k, i) => {
    const label = `audit.compliance.keys[${i}] ("${k.id}")`;
    const text = secretText(k.key, label, env);
    try {
      return { id: k.id, key: parseKeyMaterial(text, label) };
    } catch (error) {
      throw new ConfigError(error instanceof Error ? error.message : String(error));
    }
  });
  return keyring(keys, config.current);
}
