/**
 * The text and JSON rule of `@mooring/protocol` (`json.ts`) at the HTTP edge, before authentication
 * or any service runs: request bodies go through the strict JSON parser, query strings and path
 * parameters through the text rule. What the store cannot hold is refused here, so no action takes
 * effect with text that its audit record (or any later write) could not carry.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkValue, parseStrictJson, type WireRefusal } from '@mooring/protocol';
import { AppError } from '../../errors.js';

/** The JSON charset parameter, if any: RFC 8259 §8.1 has JSON exchanged in UTF-8 only. */
function charsetOf(contentType: string | undefined): string | undefined {
  const m = contentType ? /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType) : null;
  return m ? m[1]!.toLowerCase() : undefined;
}

function refusal(e: WireRefusal, where = ''): AppError {
  const path = `${where}${e.path ?? ''}`;
  const detail = path ? `${path} ${e.message}` : e.message;
  return new AppError(e.code, detail, path ? { errors: [{ path, message: e.message }] } : undefined);
}

/** Refuses query-string and path-parameter text the store cannot hold. */
export function checkRequestText(request: FastifyRequest): void {
  const params = checkValue(request.params);
  if (params) throw refusal(params, 'params:');
  const query = checkValue(request.query);
  if (query) throw refusal(query, 'querystring:');
}

export function registerWireRules(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  // JSON Merge Patch bodies (RFC 7396) are JSON under the same rules.
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json'],
    { parseAs: 'buffer' },
    (request, body, done) => {
      const charset = charsetOf(request.headers['content-type']);
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        done(new AppError('UNSUPPORTED_MEDIA_TYPE', `charset=${charset} is not accepted; send UTF-8`));
        return;
      }
      const bytes = body as Buffer;
      if (bytes.length === 0) {
        done(new AppError('MALFORMED_JSON', 'the body is empty; send a JSON document or no content type'));
        return;
      }
      const parsed = parseStrictJson(bytes);
      if (parsed.ok) done(null, parsed.value);
      else done(refusal(parsed.error));
    },
  );
  app.addHook('onRequest', async (request) => checkRequestText(request));
}
