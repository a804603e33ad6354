/**
 * A Prometheus histogram with one label, for what is observed on every call. prom-client's Histogram keys
 * each label set's bucket counts by the bucket's bound as an object property, so every observation turns a
 * number such as 0.0025 into a string to find its bucket (about 2 µs; with 14 observations a call, most of
 * what metrics cost per call). Here each label value has its counts in an array; the series are built only
 * when scraped, in the form prom-client's registry prints for its own histograms.
 */

/** One series as prom-client's registry reads it from a metric's `get()`. */
export interface SeriesValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
}

interface Cell {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface LabelledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  /** Counts `value` under the label's `labelValue` (a name from a closed set: every value is kept). */
  observe(labelValue: string, value: number): void;
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: SeriesValue[] }>;
  reset(): void;
}

/** Options are checked here: bounds out of order are a wiring mistake, found at start. */
export function labelledHistogram(options: { name: string; help: string; labelName: string; buckets: readonly number[] }): LabelledHistogram {
  const { name, help, labelName } = options;
  const bounds = [...options.buckets];
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(labelName) || labelName === 'le') throw new TypeError(`labelledHistogram: invalid name "${name}" or label "${labelName}"`);
  if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))) throw new TypeError(`labelledHistogram: ${name}: buckets must be finite and increasing`);
  const cells = new Map<string, Cell>();
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    observe(labelValue, value) {
      if (!Number.isFinite(value)) return;
      let cell = cells.get(labelValue);
      if (cell === undefined) {
        cell = { counts: new Float64Array(bounds.length), sum: 0, count: 0 };
        cells.set(labelValue, cell);
      }
      // The first bound at or above the value (Prometheus buckets are `le`); above the last: only +Inf.
      let i = 0;
      while (i < bounds.length && value > (bounds[i] as number)) i++;
      if (i < bounds.length) cell.counts[i] = (cell.counts[i] as number) + 1;
      cell.sum += value;
      cell.count += 1;
    },
    get() {
      const values: SeriesValue[] = [];
      for (const [labelValue, cell] of cells) {
        const shared = { [labelName]: labelValue };
        let cumulative = 0;
        bounds.forEach((bound, i) => {
          cumulative += cell.counts[i] as number;
          values.push({ labels: { le: bound }, sharedLabels: shared, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push(
          { labels: { le: '+Inf' }, sharedLabels: shared, value: cell.count, metricName: `${name}_bucket` },
          { labels: {}, sharedLabels: shared, value: cell.sum, metricName: `${name}_sum` },
          { labels: {}, sharedLabels: shared, value: cell.count, metricName: `${name}_count` },
        );
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
    reset: () => cells.clear(),
  };
}
