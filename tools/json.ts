/**
 * JSON values spelled as concrete JSON Schema types. `z.unknown()` lists as the empty schema `{}`, which
 * function-calling dialects (Gemini's OpenAPI subset, OpenAI strict mode) reject or treat as nothing.
 */
import * as z from 'zod';
import { once } from '../src/tool.js';

/** A JSON object with any members: `{"type": "object", "additionalProperties": true}`. */
export const jsonObject = once(() => z.record(z.string(), z.unknown()).meta({ additionalProperties: true }));

/** A JSON array with any items: `{"type": "array"}`. */
export const jsonArray = once(() => z.array(z.unknown()).meta({ items: undefined }));

/** Any JSON value, as an `anyOf` of the six JSON types. */
export const jsonValue = once(() => z.union([z.string(), z.number(), z.boolean(), z.null(), jsonArray(), jsonObject()]));

/**
 * The optional `justification` argument of tools whose calls policy may send to approval: shown to the
 * approvers, never part of what is approved (the approval stage takes it out of the bound call).
 */
export const justification = once(() =>
  z
    .string()
    .max(1000)
    .optional()
    .describe('Why this call is needed, for the human who approves it when policy sends it to approval (required by some policies; not part of what is approved).'),
);
