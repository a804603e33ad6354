import { createRequire } from 'node:module';
import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/server';

interface AjvModule {
  readonly AjvJsonSchemaValidator: new () => jsonSchemaValidator;
}

/**
 * The SDK's JSON-schema validator (ajv, the one it uses on Node by default), loaded on the first schema it
 * validates. Why: the server needs it only when it checks an answer to an elicitation (`confirmByCaller`) or
 * a schema of that kind; loading ajv at start cost every process, most of which never elicit. The validation
 * itself is unchanged: the same provider class, the same options, built on first use.
 *
 * Loaded with `require`, because `getValidator` is synchronous in the SDK's interface; the package publishes
 * the provider as CommonJS too (`@modelcontextprotocol/server/validators/ajv`). One instance serves the whole
 * process: ajv keeps what it compiled, and an HTTP server creates a Server per session.
 */
export class LazyJsonSchemaValidator implements jsonSchemaValidator {
  #ajv: jsonSchemaValidator | undefined;

  /** @inheritDoc */
  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    this.#ajv ??= new (createRequire(import.meta.url)('@modelcontextprotocol/server/validators/ajv') as AjvModule).AjvJsonSchemaValidator();
    return this.#ajv.getValidator<T>(schema);
  }

  /** Whether ajv has been loaded in this process (for tests of what a start loads). */
  get loaded(): boolean {
    return this.#ajv !== undefined;
  }
}

/** The process's validator, handed to every Server (see createGovernedServer). */
export const JSON_SCHEMA_VALIDATOR = new LazyJsonSchemaValidator();
