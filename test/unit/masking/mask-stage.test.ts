import { describe, expect, it } from 'vitest';
import { MaskingFailedError } from '../../../src/errors.js';
import { parsePolicy } from '../../../src/policy/load.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import { maskStage } from '../../../src/pipeline/stages/mask.js';
import type { RowsResult } from '../../../src/tool.js';

const policyWith = (masking: unknown): { current: () => ReturnType<typeof parsePolicy> } => {
  const policy = parsePolicy(JSON.stringify({ version: 1, rules: [], masking }), 'policies.json', []);
  return { current: () => policy };
};

const result: RowsResult = { kind: 'rows', columns: [{ name: 'email', type: 'text' }, { name: 'card', type: 'text' }], rows: [['ana@example.com', '4111111111111111']], rowCount: 1, truncated: false };

function call(facts?: unknown): CallContext {
  return { id: 'c1', startedAt: 0, sessionId: 's', transport: 'stdio', toolName: 't', rawArguments: {}, credential: { kind: 'none' }, signal: new AbortController().signal, result, ...(facts === undefined ? {} : { facts }) } as unknown as CallContext;
}

describe('maskStage', () => {
  it('fails closed with MASKING_FAILED when style hmac has no key, and returns no data', async () => {
    const stage = maskStage({ policy: policyWith({ detectors: ['EMAIL'], style: 'hmac', hmacKey: 'env:AIRLOCK_TEST_UNSET_KEY' }), secrets: () => undefined });
    const ctx = call();
    await expect(stage(ctx, () => Promise.resolve())).rejects.toBeInstanceOf(MaskingFailedError);
    expect(ctx.maskReport).toBeUndefined();
  });

  it('resolves the key reference through the resolver the composition root passes in', async () => {
    const secrets = (ref: string): string | undefined => (ref === 'env:AIRLOCK_MASKING_KEY' ? 'deployment-key-0123456789abcdef' : undefined);
    const stage = maskStage({ policy: policyWith({ detectors: ['EMAIL'], style: 'hmac', hmacKey: 'env:AIRLOCK_MASKING_KEY' }), secrets });
    const ctx = call();
    await stage(ctx, () => Promise.resolve());
    expect((ctx.result as RowsResult).rows[0]?.[0]).toMatch(/^\[EMAIL:hmac:[0-9a-f]{12}\]$/);
  });

  it('fails closed when no resolver is given at all', async () => {
    const stage = maskStage({ policy: policyWith({ detectors: ['EMAIL'], style: 'hmac', hmacKey: 'env:AIRLOCK_MASKING_KEY' }) });
    await expect(stage(call(), () => Promise.resolve())).rejects.toBeInstanceOf(MaskingFailedError);
  });

  it('applies "table.column" rules by name only when SQL lineage is missing or unresolved', async () => {
    const policy = policyWith({ detectors: ['CREDIT_CARD'], style: 'last4', columns: ['customers.card'], sensitiveUse: { approverGroups: ['security'] } });
    const lineage = (unresolved: string[]): unknown => ({ sql: { lineage: { maskedOutputs: [], maskedColumns: [], sensitiveUsedOutside: [], unresolved, columnsReferenced: [] } } });
    const cells = async (facts?: unknown): Promise<unknown> => {
      const ctx = call(facts);
      await maskStage({ policy })(ctx, () => Promise.resolve());
      return (ctx.result as RowsResult).rows[0]?.[1];
    };
    expect(await cells()).toBe('[MASKED]');
    expect(await cells(lineage(['no catalog snapshot of this connection']))).toBe('[MASKED]');
    expect(await cells(lineage([]))).toBe('************1111');
  });

  it('refuses a result whose columns do not line up with the sensitive positions lineage resolved (issue 15)', async () => {
    const policy = policyWith({ detectors: ['CREDIT_CARD'], style: 'last4', columns: ['customers.card'], sensitiveUse: { approverGroups: ['security'] } });
    const lineage = (maskedOutputs: number[], outputCount: number): unknown => ({ sql: { lineage: { maskedOutputs, outputCount, maskedColumns: [], sensitiveUsedOutside: [], unresolved: [], columnsReferenced: [] } } });
    // Lineage thought the card was the first of three columns: the result has two, so positions are unknown.
    const shifted = call(lineage([0], 3));
    await expect(maskStage({ policy })(shifted, () => Promise.resolve())).rejects.toBeInstanceOf(MaskingFailedError);
    // No sensitive position, but a count that does not match: column rules apply by name again.
    const byName = call(lineage([], 3));
    await maskStage({ policy })(byName, () => Promise.resolve());
    expect((byName.result as RowsResult).rows[0]?.[1]).toBe('[MASKED]');
    // Matching counts: lineage positions are trusted (position 0 masked whole though no rule names it; the
    // card column, not derived from a sensitive column here, keeps only the content detector's last4).
    const matching = call(lineage([0], 2));
    await maskStage({ policy })(matching, () => Promise.resolve());
    expect((matching.result as RowsResult).rows[0]).toEqual(['[MASKED]', '************1111']);
  });
});
