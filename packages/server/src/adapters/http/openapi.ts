/**
 * The OpenAPI side of the HTTP adapter. Routes take their schemas from the named operations of
 * `@mooring/protocol` (`api(...)`), so the document, the server's validation and the client's types
 * come from one place. Answers are serialized with JSON.stringify, not from their schemas: a schema
 * documents an answer and never changes it. With MOORING_CHECK_RESPONSES=1 (the test runner sets it),
 * every JSON answer is checked against its documented schema, and one that does not match fails the
 * request, so that a schema cannot drift from what a service returns.
 */
import type { FastifyInstance } from 'fastify';
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { API_OPERATIONS, ProblemSchema, type ApiOperationName, type Operation } from '@mooring/protocol';
import type { AuthMode } from './context.js';

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
});

/** The refusals a route can give, by status; `code` in the body says which. */
function problems(auth: AuthMode, hasParams: boolean) {
  return {
    400: problem('The request is not valid (VALIDATION_FAILED, MALFORMED_JSON, INVALID_TEXT, …)'),
    ...(auth === 'none'
      ? {}
      : {
          401: problem(
            'No credential, or one that is not accepted (UNAUTHENTICATED, INVALID_CREDENTIALS, …)',
          ),
          403: problem('The credential does not grant this action (FORBIDDEN, …)'),
        }),
    ...(hasParams ? { 404: problem('What the path names does not exist, or not for the caller') } : {}),
    '4XX': problem('Another refusal (conflict, rate limit, payload too large, …): see `code`'),
    '5XX': problem('The server failed (INTERNAL, AUDIT_FAILED) or is not ready (NOT_READY)'),
  };
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };

/** The operation's successful answers, each JSON one as application/json with a description. */
function answers(op: Operation) {
  return Object.fromEntries(
    Object.entries(op.responses).map(([status, answer]) => [
      status,
      'content' in answer || status === '204'
        ? answer
        : {
            description: answer.description ?? STATUS_TEXT[Number(status)] ?? 'Success',
            content: { 'application/json': { schema: answer } },
          },
    ]),
  );
}

/**
 * A route's schema from its named operation: operationId, path parameters, query string, body, its
 * successful answers and its problem answers.
 */
export function api(name: ApiOperationName, auth: AuthMode) {
  const op: Operation = API_OPERATIONS[name];
  return {
    operationId: name,
    ...(op.params ? { params: op.params } : {}),
    ...(op.query ? { querystring: op.query } : {}),
    ...(op.headers ? { headers: op.headers } : {}),
    ...(op.body ? { body: op.body } : {}),
    response: { ...answers(op), ...problems(auth, op.params !== undefined) },
    ...(auth === 'none' ? { security: [] } : {}),
  };
}

const fastifyPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

export const TAGS: { name: string; description: string }[] = [
  { name: 'auth', description: 'Logging in, and the logged-in user’s own account' },
  { name: 'tenants', description: 'Tenants (platform administrators) and a tenant’s security settings' },
  { name: 'users', description: 'A tenant’s users, invitations and sessions' },
  { name: 'roles', description: 'Built-in and custom roles' },
  { name: 'api-keys', description: 'API keys for programs' },
  { name: 'devices', description: 'The device registry, access keys and presence' },
  { name: 'telemetry', description: 'Reading telemetry and device events' },
  { name: 'commands', description: 'Commands to devices' },
  { name: 'integrations', description: 'Webhooks and MQTT bridges to the customer’s own systems' },
  { name: 'config', description: 'The configuration twin: desired and reported configuration, schemas' },
  { name: 'alerts', description: 'Alert rules and the alerts they raise' },
  { name: 'provisioning', description: 'Provisioning tokens, operations and factory batches' },
  { name: 'pki', description: 'Device certificates and certificate authorities' },
  { name: 'ownership', description: 'Releasing and claiming devices' },
  { name: 'audit', description: 'The audit trail' },
  {
    name: 'limits',
    description: 'Limit values, per-tenant and per-device overrides, and refusals by a limit',
  },
  { name: 'firmware', description: 'Firmware artifacts and update-signing keys' },
  { name: 'device-api', description: 'What devices call over HTTPS (device credentials)' },
  { name: 'device-provisioning', description: 'What devices call to provision themselves' },
  { name: 'operations', description: 'Health, readiness and metrics' },
];

export const OPENAPI_OPTIONS: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'Mooring API',
      version: '0.1.0',
      summary: 'Multi-tenant IoT device platform',
      description:
        'REST API of the Mooring IoT device platform. Every refusal is application/problem+json with a stable `code` (docs/errors.md). Operations are named by `operationId`; `@mooring/client` calls them by these names.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      contact: { name: 'Mooring', url: 'https://mooring.dev' },
    },
    servers: [
      {
        url: 'https://{host}',
        description: 'A Mooring server (default port 8443)',
        variables: { host: { default: 'localhost:8443', description: 'host and port of the server' } },
      },
    ],
    tags: TAGS,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'API key (mk_…) or session token (mst_…); on /v1/device: a device access key (dak_…) or registration token (eyJ…); on /v1/device/provisioning: a provisioning token (mpt_…)',
        },
      },
    },
    security: [{ bearer: [] }],
  },
  // Shared schemas (the Problem document) are components named by their $id.
  refResolver: {
    buildLocalReference: (json, _baseUri, _fragment, i) =>
      typeof json.$id === 'string' ? json.$id : `def-${i}`,
  },
};

function responseChecker() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/**
 * Wires the operations into the app: the Problem schema, the serializer, and a check at startup that
 * each named route is registered where its operation says.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.addSchema(ProblemSchema);
  const checking = process.env.MOORING_CHECK_RESPONSES === '1' ? responseChecker() : undefined;
  app.setSerializerCompiler(({ schema, httpStatus, url, method, contentType }) => {
    const json = contentType === undefined || /json/.test(contentType);
    const check =
      checking && json && /^2/.test(String(httpStatus)) && !(schema as { $ref?: string }).$ref
        ? checking.compile(schema)
        : undefined;
    return (data: unknown) => {
      if (check && !check(data)) {
        const what = `${method} ${url} ${httpStatus}: ${checking!.errorsText(check.errors)}`;
        process.stderr.write(`answer does not match its schema: ${what}\n`);
        throw new Error(`answer does not match its schema: ${what}`);
      }
      return JSON.stringify(data);
    };
  });
  app.addHook('onRoute', (route) => {
    const name = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (!name) return;
    const op: Operation | undefined = API_OPERATIONS[name as ApiOperationName];
    const methods = [route.method].flat().filter((m) => m !== 'HEAD');
    if (methods.length === 0) return; // the HEAD twin of a GET route
    if (!op || !methods.includes(op.method) || fastifyPath(op.path) !== route.url)
      throw new Error(`route ${methods.join(',')} ${route.url} does not match operation ${name}`);
  });
}
