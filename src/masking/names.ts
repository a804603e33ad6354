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

/** Detectors that find values by the key or column name they stand under. */
export const KEYED_BITS = BIT.PASSWORD | BIT.AWS_SECRET_KEY | BIT.GENERIC_API_KEY | BIT.US_SSN;

/** Digits one run must hold before any enabled digit detector can find something in it (0: none is on). */
export function leastDigits(mask: number): number {
  return (mask & BIT.PHONE) !== 0 ? 7 : (mask & BIT.US_SSN) !== 0 ? 9 : (mask & BIT.CREDIT_CARD) !== 0 ? 13 : 0;
}

