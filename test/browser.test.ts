import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/airlock.js';
import { chromiumCommand, OFFLINE_ARGS } from './support/browser.js';

describe('chromiumCommand', () => {
  it('uses the system Chromium when it exists, with the offline flags', async () => {
    const command = await chromiumCommand(process.execPath);
    expect(command).toEqual({ executablePath: process.execPath, args: ['--no-sandbox', ...OFFLINE_ARGS] });
  });

  it('falls back to the Chromium inside @sparticuz/chromium, without the flags that weaken web security', async () => {
    const command = await chromiumCommand(join(tempDir(), 'no-chromium-here'));
    expect(existsSync(command.executablePath)).toBe(true);
    expect(command.args).toEqual(expect.arrayContaining([...OFFLINE_ARGS, '--no-sandbox']));
    expect(command.args).not.toContain('--disable-web-security');
    expect(command.args).not.toContain('--allow-running-insecure-content');
  });
});
