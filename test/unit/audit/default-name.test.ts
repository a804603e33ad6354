import { describe, expect, it } from 'vitest';
import { defaultNameParts } from '../../../src/audit/pg-store.js';

describe('defaultNameParts: the host and pid of a default PostgreSQL replica name (issue 21)', () => {
  it('reads host:pid:suffix, also when the random suffix is all digits (one name in 40)', () => {
    expect(defaultNameParts('vm:4242:0a1b2c3d')).toEqual({ host: 'vm', pid: 4242 });
    expect(defaultNameParts('vm:4242:12345678')).toEqual({ host: 'vm', pid: 4242 });
    expect(defaultNameParts('pod-7f9c.internal:1:00000000')).toEqual({ host: 'pod-7f9c.internal', pid: 1 });
  });

  it('reads the host:pid names of earlier versions, and nothing from a name given by hand', () => {
    expect(defaultNameParts('vm:4242')).toEqual({ host: 'vm', pid: 4242 });
    expect(defaultNameParts('pod-a')).toBeUndefined();
    expect(defaultNameParts('vm:4242:notahex!')).toBeUndefined();
  });
});
