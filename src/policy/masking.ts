/**
 * Which detectors mask one call: the policy's `masking.detectors`, changed by every override that
 * matches the caller, the tool and the resource. A detector any matching override adds stays on even if
 * another removes it: more masking wins.
 */
import type { Principal } from '../identity/principal.js';
import { DETECTOR_NAMES, type DetectorName } from '../masking/detectors.js';
import { principalMatches } from './evaluate.js';
import { globMatch } from './glob.js';
import type { MaskingSettings } from './schema.js';

export interface MaskingCall {
  /** Absent for a call without a verified principal (no override for principals can match it). */
  readonly principal?: Principal | undefined;
  readonly tool: string;
  /** The connection, bucket or log scope the call names. */
  readonly resource?: string | undefined;
}

export interface CallMasking {
  /** The detectors on for this call, in `DETECTOR_NAMES` order. */
  readonly detectors: readonly DetectorName[];
  /** Ids of the overrides that matched (empty when the policy's detectors apply as written). */
  readonly overrides: readonly string[];
}

export function maskingFor(settings: MaskingSettings, call: MaskingCall): CallMasking {
  const overrides = settings.overrides ?? [];
  if (overrides.length === 0) return { detectors: settings.detectors, overrides: [] };
  const added = new Set<DetectorName>();
  const removed = new Set<DetectorName>();
  const matched: string[] = [];
  for (const o of overrides) {
    if (o.tools !== undefined && !o.tools.includes(call.tool)) continue;
    if (o.resources !== undefined) {
      const resource = call.resource;
      if (resource === undefined || !o.resources.some((g) => globMatch(g, resource))) continue;
    }
    if (o.principals !== undefined && (call.principal === undefined || !principalMatches(o.principals, call.principal))) continue;
    matched.push(o.id);
    for (const d of o.add ?? []) added.add(d);
    for (const d of o.remove ?? []) removed.add(d);
  }
  if (matched.length === 0) return { detectors: settings.detectors, overrides: [] };
  const base = new Set(settings.detectors);
  const detectors = DETECTOR_NAMES.filter((d) => added.has(d) || (base.has(d) && !removed.has(d)));
  return { detectors, overrides: matched };
}
