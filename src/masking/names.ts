/** Detector names, the finding type, and the bit set the scanner uses to know which detectors are on. */

export const DETECTOR_NAMES = [
  'CREDIT_CARD',
  'EMAIL',
  'IBAN',
  'JWT',
  // Before PRIVATE_KEY: a service-account key's PEM is found by both, and the whole value wins.
  'GCP_SA_KEY',
  'PRIVATE_KEY',
  'AWS_ACCESS_KEY',
  'GCP_API_KEY',
  'GITHUB_TOKEN',
  'SLACK_TOKEN',
  'STRIPE_KEY',
  'PASSWORD_IN_URL',
  'PASSWORD',
  'AWS_SECRET_KEY',
  'GENERIC_API_KEY',
  'US_SSN',
  'IP_ADDRESS',
  'PHONE',
] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export interface Detection {
  readonly start: number;
  readonly end: number;
  readonly type: DetectorName;
}

/** One bit per detector, in `DETECTOR_NAMES` order (the order also breaks ties between equal spans). */
export const BIT: Readonly<Record<DetectorName, number>> = Object.fromEntries(DETECTOR_NAMES.map((name, i) => [name, 1 << i])) as Record<DetectorName, number>;

/** Rank of a type when two findings cover the same span: the earlier name wins. */
export const RANK: Readonly<Record<DetectorName, number>> = Object.fromEntries(DETECTOR_NAMES.map((name, i) => [name, i])) as Record<DetectorName, number>;

/** The bit set for a list of names; an unknown name is a wiring error (fail closed). */
export function maskOf(names: Iterable<string>): number {
  let mask = 0;
  for (const name of names) {
    const bit = (BIT as Readonly<Record<string, number | undefined>>)[name];
    if (bit === undefined) throw new TypeError(`unknown detector "${name}" (known: ${DETECTOR_NAMES.join(', ')})`);
    mask |= bit;
  }
  return mask;
}
