/**
 * Masking accuracy (issue 20): precision and recall per detector type, all detectors on, over the whole
 * labelled set (test/support/labelled: the first set and the issue-20 groups — logs, CSV, SQL rows, config
 * files, Cloud Logging entries, with their look-alikes), through the masker's `find` (what every text surface
 * uses), for the working tree's engine and, when git can build it, today's engine (masking-baseline.ts) on the same cases. A finding counts only with the exact
 * span and type labelled. Printed first by `BENCH_ONLY=masking`.
 */
import { fullLabelledSet } from '../test/support/labelled/index.js';
import { score, type Sample } from '../test/support/masking-labelled.js';
import type { DetectorName } from '../src/masking/detectors.js';
import type { MaskingEngine } from './masking-baseline.js';

/** The issue's floors, for every type and overall. */
export const ACCURACY_TARGET = { precision: 0.98, recall: 0.99 } as const;

interface Row {
  readonly type: string;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
  readonly precision: number;
  readonly recall: number;
}

function rows(samples: readonly Sample[], engine: MaskingEngine): Row[] {
  // The masker's `find`, the path every text surface takes: every detector, plus a CSV header's column context.
  const masker = new engine.Masker({ detectors: [...engine.DETECTOR_NAMES], style: 'last4', columns: [] });
  const scores = score(samples, (text) => masker.find(text) as ReturnType<Parameters<typeof score>[1]>);
  const out: Row[] = [];
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const [type, s] of [...scores].sort((a, b) => a[0].localeCompare(b[0]))) {
    out.push({ type, tp: s.truePositives, fp: s.falsePositives, fn: s.falseNegatives, precision: s.precision, recall: s.recall });
    tp += s.truePositives;
    fp += s.falsePositives;
    fn += s.falseNegatives;
  }
  out.push({ type: 'all types', tp, fp, fn, precision: tp / Math.max(1, tp + fp), recall: tp / Math.max(1, tp + fn) });
  return out;
}

const f = (x: number): string => x.toFixed(4);

/** The accuracy table, with today's engine beside the working tree's when `today` is given. */
export function accuracyTable(current: MaskingEngine, today?: MaskingEngine): string[] {
  const samples = fullLabelledSet();
  const negatives = samples.filter((s) => s.expected.length === 0).length;
  const now = rows(samples, current);
  const before = today === undefined ? undefined : new Map(rows(samples, today).map((r) => [r.type, r]));
  const lines = [
    `masking accuracy: ${samples.length.toLocaleString('en-US')} labelled cases (${negatives.toLocaleString('en-US')} with nothing to find), all detectors on, exact spans; target precision ≥ ${ACCURACY_TARGET.precision}, recall ≥ ${ACCURACY_TARGET.recall} per type`,
    '',
    `| type | found / false / missed | precision | recall |${before === undefined ? '' : ' today: precision | today: recall |'}`,
    `|---|---|---|---|${before === undefined ? '' : '---|---|'}`,
  ];
  for (const r of now) {
    const b = before?.get(r.type);
    const met = r.precision >= ACCURACY_TARGET.precision && r.recall >= ACCURACY_TARGET.recall ? '' : ' (below target)';
    lines.push(`| ${r.type as DetectorName | 'all types'}${met} | ${r.tp} / ${r.fp} / ${r.fn} | ${f(r.precision)} | ${f(r.recall)} |${before === undefined ? '' : ` ${b === undefined ? '—' : f(b.precision)} | ${b === undefined ? '—' : f(b.recall)} |`}`);
  }
  return lines;
}
