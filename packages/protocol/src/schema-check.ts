/**
 * One schema, checked the same wherever a message arrives: HTTP validates bodies with Ajv from the
 * route schema, MQTT handlers check the very same TypeBox schema here. A refusal names the first field
 * that is wrong, in the words the caller gives for that field.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

export type SchemaCheck<T> = { ok: true; value: T } | { ok: false; message: string; path: string };

/**
 * Checks a decoded JSON value against a schema. `messages` words a refusal per top-level field
 * (`''`: the value itself); other refusals say which field and what TypeBox expected.
 */
export function checkSchema<T extends TSchema>(
  schema: T,
  value: unknown,
  messages: Record<string, string> = {},
): SchemaCheck<Static<T>> {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  if (check.Check(value)) return { ok: true, value: value as Static<T> };
  const error = check.Errors(value).First();
  if (!error) return { ok: false, message: messages[''] ?? 'is not valid', path: '' };
  const field = error.path.split('/')[1] ?? '';
  if (error.type === ObjectAdditionalProperties && field !== '' && error.path === `/${field}`)
    return { ok: false, message: `unknown field '${field}'`, path: error.path };
  return {
    ok: false,
    message: messages[field] ?? (field ? `${field}: ${error.message}` : error.message),
    path: error.path,
  };
}

const ObjectAdditionalProperties = ValueErrorType.ObjectAdditionalProperties;
