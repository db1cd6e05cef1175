/**
 * Configuration schemas: a JSON Schema (draft 2020-12) per tag, checked on every desired write of a
 * device with that tag. Schemas are compiled once per version (name + updatedAt) and kept in a
 * bounded cache; a schema that does not compile is refused when it is put, not when it is used.
 * References may point only inside the schema: nothing is ever fetched.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { AppError, type FieldError } from '../../errors.js';
import type { ConfigSchema } from './config.js';

/** Largest schema, in bytes of JSON. */
export const MAX_SCHEMA_BYTES = 64 * 1024;
const CACHE_SIZE = 256;
const MAX_ERRORS = 20;

function newAjv() {
  // allErrors: a refusal lists every failing path, not the first; unknown keywords are refused, but
  // a keyword without its `type` (`{maximum: 5}`) is plain JSON Schema and accepted.
  return new Ajv2020({
    allErrors: true,
    strictSchema: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: false,
  });
}

export function createSchemaChecker() {
  const cache = new Map<string, ValidateFunction>();

  function compile(schema: Record<string, unknown>): ValidateFunction {
    const bytes = Buffer.byteLength(JSON.stringify(schema));
    if (bytes > MAX_SCHEMA_BYTES)
      throw new AppError(
        'CONFIG_SCHEMA_INVALID',
        `the schema is ${bytes} bytes; the limit is ${MAX_SCHEMA_BYTES}`,
      );
    try {
      // A fresh instance per schema: an `$id` cannot collide with another tenant's.
      return newAjv().compile(schema);
    } catch (err) {
      throw new AppError('CONFIG_SCHEMA_INVALID', `not a usable JSON Schema: ${(err as Error).message}`);
    }
  }

  function validatorOf(tenantId: string, s: ConfigSchema): ValidateFunction {
    const key = JSON.stringify([tenantId, s.name, s.updatedAt]);
    let fn = cache.get(key);
    if (fn) {
      cache.delete(key);
      cache.set(key, fn); // most recently used last
      return fn;
    }
    fn = compile(s.schema);
    cache.set(key, fn);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return fn;
  }

  return {
    /** Refuses a schema that does not compile (CONFIG_SCHEMA_INVALID). */
    assertUsable(schema: Record<string, unknown>): void {
      compile(schema);
    },
    /** Checks a desired document against each schema; CONFIG_SCHEMA_VIOLATION names the first failing one. */
    check(tenantId: string, schemas: readonly ConfigSchema[], document: unknown): void {
      for (const s of schemas) {
        const validate = validatorOf(tenantId, s);
        if (validate(document)) continue;
        const errors: FieldError[] = (validate.errors ?? []).slice(0, MAX_ERRORS).map((e) => ({
          path: e.instancePath || '/',
          message: e.message ?? 'does not match',
        }));
        throw new AppError(
          'CONFIG_SCHEMA_VIOLATION',
          `the desired configuration does not match schema '${s.name}' (tag '${s.tag}')`,
          { errors, details: { schema: s.name } },
        );
      }
    },
  };
}
export type SchemaChecker = ReturnType<typeof createSchemaChecker>;
