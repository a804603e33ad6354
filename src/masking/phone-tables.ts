/**
 * Phone numbers in a phone-shaped candidate, with the verdict of libphonenumber-js's `findNumbers(text,
 * { defaultCountry, v2: true })` (leniency VALID), read from tables generated from its metadata at build time
 * (scripts/phone-tables.mjs → phone-tables.generated.ts). The library's matcher builds metadata objects and
 * regexes on every call and throws a parse error per rejected number (50–660 µs per candidate); here every
 * pattern is compiled once, on the first use of its numbering plan, and a rejection is a return value.
 *
 * The port follows the library step by step (PhoneNumberMatcher: candidate pattern, bracket and
 * publication-page checks, inner matches; parse: IDD prefix, calling code with or without '+', national
 * prefix and its transform rule, the country among those sharing a calling code; then "possible" by length
 * and "valid" by number type) for the text masking hands it: ASCII digits, spaces, `().-` and a leading `+`.
 * What needs other characters is left out (extensions, `tel:` URIs, slashes, letters, full-width digits),
 * since such a candidate never reaches it; test/unit/masking/phone-tables.test.ts checks both agree.
 */
import { phoneTables } from './phone-tables.generated.js';

/** One numbering plan as the generator writes it (libphonenumber metadata v4, reduced). */
export interface PhonePlanJson {
  /** Calling code ('1', '44'). */
  readonly cc: string;
  /** International call prefix, a pattern ('011', '00|1(?:0[...]'); '' for non-geographic plans. */
  readonly idd: string;
  /** Every national number of the plan matches this pattern entirely. */
  readonly nn: string;
  /** Possible national number lengths, ascending. */
  readonly lengths: readonly number[];
  /** National prefix ('1', '0'), '' when none. */
  readonly np: string;
  /** Pattern of the national prefix as parsing strips it ('' = the national prefix). */
  readonly npp: string;
  /** Replacement for the prefix match when the pattern captures ('' when none). */
  readonly npt: string;
  /** Leading digits that pick this country among those sharing its calling code ('' when none). */
  readonly ld: string;
  /** Pattern and lengths per number type (fixed line, mobile, toll free, …); null when the type is absent. */
  readonly types: readonly ({ readonly pattern: string; readonly lengths: readonly number[] } | null)[];
  readonly hasTypes: boolean;
}

/** The generated tables. */
export interface PhoneTables {
  /** libphonenumber-js version the tables come from. */
  readonly version: string;
  /** Calling code → its countries, main country first ([] for a non-geographic code). */
  readonly callingCodes: Readonly<Record<string, readonly string[]>>;
  readonly countries: Readonly<Record<string, PhonePlanJson>>;
  /** Non-geographic calling codes ('800', '979'), by calling code. */
  readonly nonGeographic: Readonly<Record<string, PhonePlanJson>>;
}

/** A phone number found in a candidate: its offsets in the candidate (UTF-16 code units). */
export interface PhoneSpan {
  readonly startsAt: number;
  readonly endsAt: number;
}

interface Plan {
  readonly json: PhonePlanJson;
  readonly nn: RegExp;
  readonly idd: RegExp | undefined;
  /** The prefix pattern used for parsing (its own, else the national prefix), undefined when none. */
  readonly npp: RegExp | undefined;
  readonly ld: RegExp | undefined;
  readonly types: readonly { readonly re: RegExp; readonly lengths: readonly number[] }[];
}

const compiled = new Map<PhonePlanJson, Plan>();

interface Lookup {
  readonly countries: ReadonlyMap<string, PhonePlanJson>;
  readonly callingCodes: ReadonlyMap<string, readonly string[]>;
  readonly nonGeographic: ReadonlyMap<string, PhonePlanJson>;
}

let lookup: Lookup | undefined;

/**
 * The generated tables as maps, built at the first phone check (not at start-up: ~10 ms before `initialize`
 * otherwise). Maps, because a lookup in the large object literal costs far more (it was a quarter of the
 * masking time of a log line with a card and an address).
 */
function tables(): Lookup {
  if (lookup === undefined) {
    const t = phoneTables();
    lookup = { countries: new Map(Object.entries(t.countries)), callingCodes: new Map(Object.entries(t.callingCodes)), nonGeographic: new Map(Object.entries(t.nonGeographic)) };
  }
  return lookup;
}

/** The countries of a calling code with their compiled plans, in the tables' order (built once per code). */
const sharing = new Map<string, readonly { readonly country: string; readonly plan: Plan }[]>();

function plansOf(cc: string): readonly { readonly country: string; readonly plan: Plan }[] {
  let list = sharing.get(cc);
  if (list === undefined) {
    list = countriesOf(cc).flatMap((country) => {
      const json = countryPlan(country);
      return json === undefined ? [] : [{ country, plan: compile(json) }];
    });
    sharing.set(cc, list);
  }
  return list;
}

/** The plan with its patterns compiled (once per plan and process). */
function compile(json: PhonePlanJson): Plan {
  let plan = compiled.get(json);
  if (plan === undefined) {
    const prefix = json.npp !== '' ? json.npp : json.np;
    plan = {
      json,
      nn: new RegExp(`^(?:${json.nn})$`),
      idd: json.idd === '' ? undefined : new RegExp(`^(?:${json.idd})`),
      npp: prefix === '' ? undefined : new RegExp(`^(?:${prefix})`),
      ld: json.ld === '' ? undefined : new RegExp(`^(?:${json.ld})`),
      types: json.types.flatMap((t) => (t === null ? [] : [{ re: new RegExp(`^(?:${t.pattern})$`), lengths: t.lengths }])),
    };
    compiled.set(json, plan);
  }
  return plan;
}

/** The plan of a country, undefined when the tables do not know it. */
export function countryPlan(country: string): PhonePlanJson | undefined {
  return tables().countries.get(country);
}

/** The countries sharing a calling code, main country first ([] when none or non-geographic). */
export function countriesOf(callingCode: string): readonly string[] {
  return tables().callingCodes.get(callingCode) ?? [];
}

/** The plan a calling code selects: its main country's, or the non-geographic plan. */
function callingCodePlan(cc: string): Plan | undefined {
  const main = countriesOf(cc)[0];
  if (main !== undefined) {
    const json = countryPlan(main);
    return json === undefined ? undefined : compile(json);
  }
  const json = tables().nonGeographic.get(cc);
  return json === undefined ? undefined : compile(json);
}

type LengthVerdict = 'IS_POSSIBLE' | 'TOO_SHORT' | 'TOO_LONG' | 'INVALID_LENGTH';

function checkLength(nationalNumber: string, lengths: readonly number[]): LengthVerdict {
  const n = nationalNumber.length;
  const min = lengths[0] ?? 0;
  if (min === n) return 'IS_POSSIBLE';
  if (min > n) return 'TOO_SHORT';
  if ((lengths[lengths.length - 1] ?? 0) < n) return 'TOO_LONG';
  return lengths.indexOf(n, 1) >= 0 ? 'IS_POSSIBLE' : 'INVALID_LENGTH';
}

/** Whether the national number is of one of the plan's number types (libphonenumber's getNumberType !== undefined). */
function hasType(nationalNumber: string, plan: Plan): boolean {
  if (!plan.nn.test(nationalNumber)) return false;
  for (const t of plan.types) if (t.lengths.includes(nationalNumber.length) && t.re.test(nationalNumber)) return true;
  return false;
}

/** libphonenumber's isValid for a plan. */
function isValidFor(nationalNumber: string, plan: Plan): boolean {
  return plan.json.hasTypes ? hasType(nationalNumber, plan) : plan.nn.test(nationalNumber);
}

/** The country of a number among those sharing its calling code (getCountryByCallingCode). */
function countryByCallingCode(cc: string, nationalNumber: string): string | undefined {
  const countries = countriesOf(cc);
  if (countries.length === 0) return undefined;
  if (countries.length === 1) return countries[0];
  for (const { country, plan } of plansOf(cc)) {
    if (plan.ld !== undefined) {
      if (plan.ld.test(nationalNumber)) return country;
    } else if (hasType(nationalNumber, plan)) {
      return country;
    }
  }
  return undefined;
}

/** Strips the national prefix (and applies its transform rule) as the plan says (extractNationalNumber). */
function nationalNumberOf(number: string, plan: Plan): string {
  if (number === '' || plan.npp === undefined) return number;
  const m = plan.npp.exec(number);
  if (m === null) return number;
  const groups = m.length - 1;
  const captured = groups > 0 && Boolean(m[groups]);
  const national = plan.json.npt !== '' && captured ? number.replace(plan.npp, plan.json.npt) : number.slice(m[0].length);
  if (national === number) return national;
  // Stripping must not turn a valid national number into an invalid one, nor leave too few digits.
  if (plan.nn.test(number) && !plan.nn.test(national)) return number;
  if (plan.json.lengths.length > 0) {
    const country = countryByCallingCode(plan.json.cc, national);
    const lengths = country === undefined ? plan.json.lengths : (countryPlan(country)?.lengths ?? plan.json.lengths);
    const verdict = checkLength(national, lengths);
    if (verdict === 'TOO_SHORT' || verdict === 'INVALID_LENGTH') return number;
  }
  return national;
}

interface Parsed {
  readonly cc: string;
  readonly country: string | undefined;
  readonly nationalNumber: string;
}

/** parsePhoneNumber(candidate, { extended: true, defaultCountry }) for text of digits, `+` and ` ().-`. */
function parse(candidate: string, defaultCountry: string): Parsed | undefined {
  // extractFormattedPhoneNumber: from the first '+' or digit, without trailing non-digits.
  let from = 0;
  while (from < candidate.length && !isDigit(candidate.charCodeAt(from)) && candidate.charCodeAt(from) !== 43) from++;
  let to = candidate.length;
  while (to > from && !isDigit(candidate.charCodeAt(to - 1))) to--;
  if (to <= from) return undefined;
  // isViablePhoneNumber: two digits exactly, or at least three digits among punctuation.
  let digits = '';
  for (let k = from; k < to; k++) if (isDigit(candidate.charCodeAt(k))) digits += candidate[k];
  const plus = candidate.charCodeAt(from) === 43;
  const viable = to - from >= 2 && ((!plus && to - from === 2 && digits.length === 2) || digits.length >= 3);
  if (!viable) return undefined;
  const dc = countryPlan(defaultCountry);
  if (dc === undefined) return undefined;
  const defaultPlan = compile(dc);
  // extractCountryCallingCode
  let cc: string | undefined;
  let rest: string | undefined;
  let number = plus ? `+${digits}` : digits;
  let viaPlus = plus;
  if (!plus) {
    let withoutIdd: string | undefined;
    const idd = defaultPlan.idd?.exec(number);
    if (idd !== null && idd !== undefined) {
      withoutIdd = number.slice(idd[0].length);
      if (withoutIdd.charCodeAt(0) === 48) withoutIdd = undefined;
    }
    if (withoutIdd !== undefined && withoutIdd !== '' && withoutIdd !== number) {
      number = `+${withoutIdd}`;
      viaPlus = true;
    } else {
      // A number that opens with the default country's calling code, without '+'.
      const own = dc.cc;
      if (number.startsWith(own)) {
        const shorter = number.slice(own.length);
        const nnShorter = nationalNumberOf(shorter, defaultPlan);
        const nn = nationalNumberOf(number, defaultPlan);
        if ((!defaultPlan.nn.test(nn) && defaultPlan.nn.test(nnShorter)) || checkLength(nn, dc.lengths) === 'TOO_LONG') {
          cc = own;
          rest = shorter;
        }
      }
      if (cc === undefined) rest = number;
    }
  }
  if (viaPlus) {
    if (number.charCodeAt(1) === 48) return undefined;
    for (let i = 2; i - 1 <= 3 && i <= number.length; i++) {
      const code = number.slice(1, i);
      if (countriesOf(code).length > 0 || tables().nonGeographic.has(code)) {
        cc = code;
        rest = number.slice(i);
        break;
      }
    }
    if (cc === undefined) return undefined;
  }
  let country: string | undefined;
  let plan: Plan | undefined;
  if (cc !== undefined) {
    plan = callingCodePlan(cc);
  } else if (rest !== undefined && rest !== '') {
    country = defaultCountry;
    plan = defaultPlan;
    cc = dc.cc;
  }
  if (plan === undefined || cc === undefined || rest === undefined || rest === '') return undefined;
  const nationalNumber = nationalNumberOf(rest, plan);
  const exact = countryByCallingCode(cc, nationalNumber);
  if (exact !== undefined) country = exact;
  if (nationalNumber.length < 2 || nationalNumber.length > 17) return undefined;
  return { cc, country, nationalNumber };
}

/** Whether a candidate parses to a possible and valid number (the leniency VALID of findNumbers). */
function validNumber(candidate: string, defaultCountry: string): boolean {
  const parsed = parse(candidate, defaultCountry);
  if (parsed === undefined) return false;
  const json = parsed.country !== undefined ? countryPlan(parsed.country) : undefined;
  const plan = json !== undefined ? compile(json) : callingCodePlan(parsed.cc);
  if (plan === undefined) return false;
  if (checkLength(parsed.nationalNumber, plan.json.lengths) !== 'IS_POSSIBLE') return false;
  return isValidFor(parsed.nationalNumber, plan);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

// The matcher's patterns (PhoneNumberMatcher.js, isValidCandidate.js), over the characters masking hands it.
const PUNCTUATION = '[-\u2010-\u2015\u2212\u30FC\uFF0D\uFF0F/\uFF0E. \u00A0\u00AD\u200B\u2060\u3000()\uFF08\uFF09\uFF3B\uFF3D\\[\\]~\u2053\u223C\uFF5E]{0,4}';
const CANDIDATE = new RegExp(`(?:[(\\[\uFF08\uFF3B+\uFF0B]${PUNCTUATION}){0,2}[0-9]{1,20}(?:${PUNCTUATION}[0-9]{1,20}){0,20}`, 'g');
const PZ = '[\u0020\u00A0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]';
const NOT_PZ = '[^\u0020\u00A0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]';
const INNER = [/\/+(.*)/g, /(\([^(]*)/g, new RegExp(`(?:${PZ}-|-${PZ})${PZ}*(.+)`, 'g'), new RegExp(`[\u2012-\u2015\uFF0D]${PZ}*(.+)`, 'g'), new RegExp(`\\.+${PZ}*([^.]+)`, 'g'), new RegExp(`${PZ}+(${NOT_PZ}+)`, 'g')];
const NON_PARENS = '[^(\\[\uFF08\uFF3B)\\]\uFF09\uFF3D]';
const MATCHING_BRACKETS = new RegExp(`^(?:[(\\[\uFF08\uFF3B])?(?:${NON_PARENS}+[)\\]\uFF09\uFF3D])?${NON_PARENS}+(?:[(\\[\uFF08\uFF3B]${NON_PARENS}+[)\\]\uFF09\uFF3D]){0,3}${NON_PARENS}*$`);
const PUB_PAGES = /\d{1,5}-+\d{1,5}\s{0,4}\(\d{1,4}/;

/** Trailing characters that are neither digits nor '#' (UNWANTED_END_CHAR_PATTERN over ASCII). */
function trimEnd(s: string): string {
  let to = s.length;
  while (to > 0 && !isDigit(s.charCodeAt(to - 1)) && !isLetterOrHash(s.charCodeAt(to - 1))) to--;
  return s.slice(0, to);
}
const isLetterOrHash = (c: number): boolean => c === 35 || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

function verify(candidate: string, offset: number, country: string): PhoneSpan | undefined {
  if (!MATCHING_BRACKETS.test(candidate) || PUB_PAGES.test(candidate)) return undefined;
  return validNumber(candidate, country) ? { startsAt: offset, endsAt: offset + candidate.length } : undefined;
}

function innerMatch(substring: string, offset: number, country: string): PhoneSpan | undefined {
  for (const re of INNER) {
    re.lastIndex = 0;
    let first = true;
    for (let m = re.exec(substring); m !== null; m = re.exec(substring)) {
      if (first) {
        const found = verify(trimEnd(substring.slice(0, m.index)), offset, country);
        if (found !== undefined) return found;
        first = false;
      }
      const candidate = trimEnd(m[1] ?? '');
      const found = verify(candidate, offset + substring.indexOf(candidate, m.index), country);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * The phone numbers libphonenumber's `findNumbers(text, { defaultCountry: country, v2: true })` finds in `text`,
 * for text made of ASCII digits, spaces, `().-` and a leading `+` (a phone-shaped candidate); offsets in it.
 */
export function findPhones(text: string, country: string): PhoneSpan[] {
  const found: PhoneSpan[] = [];
  CANDIDATE.lastIndex = 0;
  for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
    const span = verify(m[0], m.index, country) ?? innerMatch(m[0], m.index, country);
    if (span !== undefined) {
      found.push(span);
      CANDIDATE.lastIndex = span.endsAt;
    }
  }
  return found;
}
