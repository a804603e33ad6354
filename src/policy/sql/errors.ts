/**
 * Which arguments of a built-in function, and which operands of an operator, can make it raise an error
 * depending on their value. Whether an error happens is an oracle on what decided it: a sensitive derivation
 * there is a use outside the output. The rule is an allow-list, reviewed against PostgreSQL: a function or
 * operator not listed may raise on any argument (overflow, invalid patterns, sizes, out-of-range fields).
 */

/** The argument positions (0-based) whose values can make the call fail, given the number of arguments. */
type RaisingArgs = (count: number) => readonly number[];

const none: RaisingArgs = () => [];
const only = (...positions: number[]): RaisingArgs => () => positions;
const from = (first: number): RaisingArgs => (count) => Array.from({ length: Math.max(0, count - first) }, (_, i) => first + i);

/**
 * Built-ins and the arguments that can make them fail. Absent: every argument. Out-of-memory at PostgreSQL's
 * 1 GB value limit is not counted for functions whose result is no larger than their inputs.
 */
const RAISING: ReadonlyMap<string, RaisingArgs> = new Map<string, RaisingArgs>([
  // Text functions that return a value for every input of their types.
  ...['lower', 'upper', 'initcap', 'length', 'char_length', 'character_length', 'octet_length', 'bit_length', 'md5', 'btrim', 'ltrim',
    'rtrim', 'reverse', 'concat', 'concat_ws', 'replace', 'strpos', 'position', 'starts_with', 'ascii', 'left', 'right', 'translate',
    'quote_literal', 'quote_ident', 'quote_nullable', 'string_to_array', 'array_to_string', 'array_length', 'cardinality',
    'sha224', 'sha256', 'sha384', 'sha512', 'num_nulls', 'num_nonnulls'].map((n): [string, RaisingArgs] => [n, none]),
  // Aggregates and row/JSON constructors that copy values without judging them.
  ...['count', 'max', 'min', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'bool_and', 'bool_or', 'every', 'to_json', 'to_jsonb',
    'row_to_json', 'array_to_json', 'jsonb_typeof', 'json_typeof', 'jsonb_extract_path', 'jsonb_extract_path_text', 'json_extract_path',
    'json_extract_path_text'].map((n): [string, RaisingArgs] => [n, none]),
  // A negative length fails ("negative substring length not allowed"); two-argument substring(text, text) is a regex.
  ['substr', only(2)],
  ['substring', only(1, 2)],
  // Field position zero fails.
  ['split_part', only(2)],
  // The requested size can exceed the largest value ("requested length too large").
  ['repeat', only(1)],
  ['lpad', only(1)],
  ['rpad', only(1)],
  // The pattern and flags can be invalid; the text searched cannot.
  ...['regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_like', 'regexp_count', 'regexp_instr', 'regexp_substr', 'regexp_split_to_array',
    'regexp_split_to_table'].map((n): [string, RaisingArgs] => [n, from(1)]),
  // Only a NULL key raises here (its null-ness, which IS NULL in the output would show masked, not its value).
  ...['json_build_object', 'jsonb_build_object', 'json_object_agg', 'jsonb_object_agg'].map((n): [string, RaisingArgs] => [n, none]),
  // Conversions to text types copy or cut the value (like the casts lineage counts as harmless).
  ...['text', 'name', 'varchar', 'bpchar'].map((n): [string, RaisingArgs] => [n, none]),
  // The format or field name can be invalid; the value formatted cannot.
  ['to_char', only(1)],
  ['date_trunc', only(0, 2)],
  ['date_part', only(0)],
  ['extract', only(0)],
  ['encode', only(1)],
]);

/** Positions of a built-in's arguments whose values can make it fail. */
export function raisingArguments(name: string, count: number): readonly number[] {
  return (RAISING.get(name) ?? from(0))(count);
}

/** Operators that compare or combine values of one type without failing. */
const TOTAL_OPERATORS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '||', '->', '->>', '#>', '#>>', '?', '?|', '?&', '@>', '<@', '&&']);

/** Operators whose right operand can make them fail: a divisor of zero, an invalid pattern. */
const RIGHT_RAISES = new Set(['/', '%', '~', '~*', '!~', '!~*', '~~', '!~~', '~~*', '!~~*']);

/** Which operands of a binary or prefix operator can make it fail (overflow, division by zero, bad patterns). */
export function raisingOperands(op: string): 'none' | 'right' | 'both' {
  if (TOTAL_OPERATORS.has(op)) return 'none';
  return RIGHT_RAISES.has(op) ? 'right' : 'both';
}
