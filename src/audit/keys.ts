import { readFileSync } from 'node:fs';
import type { RuntimeFile } from '../config.js';
import { ConfigError } from '../config.js';
import { keyring, parseKeyMaterial, type Keyring } from './sealed.js';

type ComplianceConfig = NonNullable<NonNullable<RuntimeFile['audit']>['compliance']>;

/** Resolves the compliance keys' `env:` and `file:` references; every problem names the key. */
export function resolveKeyring(config: ComplianceConfig, env: Readonly<Record<string, string | undefined>>): Keyring {
  const keys = config.keys.map((k, i) => {
    const label = `audit.compliance.keys[${i}] ("${k.id}")`;
    let text: string;
    if (k.key.startsWith('env:')) {
      const value = env[k.key.slice('env:'.length)];
      if (value === undefined || value === '') throw new ConfigError(`${label}: ${k.key} is not set`);
      text = value;
    } else {
      try {
        text = readFileSync(k.key.slice('file:'.length), 'utf8');
      } catch (error) {
        throw new ConfigError(`${label}: cannot read ${k.key.slice('file:'.length)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      }
    }
    try {
      return { id: k.id, key: parseKeyMaterial(text, label) };
    } catch (error) {
      throw new ConfigError(error instanceof Error ? error.message : String(error));
    }
  });
  return keyring(keys, config.current);
}
