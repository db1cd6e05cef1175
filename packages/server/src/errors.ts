/**
 * The one error type. Domain code throws `AppError`s made from the catalogue in `@mooring/protocol`;
 * adapters map them to problem+json (HTTP) or to a return code / refusal notice (MQTT) at the edge.
 */
import { ERROR_CATALOGUE, type ErrorCode } from '@mooring/protocol';

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;
  readonly errors: FieldError[] | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    extra?: { errors?: FieldError[]; details?: Record<string, unknown> },
  ) {
    super(detail ?? ERROR_CATALOGUE[code].title);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.errors = extra?.errors;
    this.details = extra?.details ?? {};
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Named constructors so call sites read as what went wrong. */
export const Errors = {
  validation: (message: string, errors?: FieldError[]) =>
    new AppError('VALIDATION_FAILED', message, errors ? { errors } : undefined),
  unauthenticated: (detail?: string) => new AppError('UNAUTHENTICATED', detail),
  invalidCredentials: () => new AppError('INVALID_CREDENTIALS'),
  forbidden: (detail?: string) => new AppError('FORBIDDEN', detail),
  /** Every call but a password change from a session opened with a one-time password. */
  passwordChangeRequired: () =>
    new AppError(
      'PASSWORD_CHANGE_REQUIRED',
      'this password works once: change it with POST /v1/auth/password, then log in with the new one',
    ),
  tenantNotFound: (id: string) => new AppError('TENANT_NOT_FOUND', `tenant ${id} not found`),
  userNotFound: (id: string) => new AppError('USER_NOT_FOUND', `user ${id} not found`),
  apiKeyNotFound: (id: string) => new AppError('API_KEY_NOT_FOUND', `API key ${id} not found`),
  deviceNotFound: (id: string) => new AppError('DEVICE_NOT_FOUND', `device ${id} not found`),
  accessKeyNotFound: (id: string) => new AppError('ACCESS_KEY_NOT_FOUND', `access key ${id} not found`),
  commandNotFound: (id: string) => new AppError('COMMAND_NOT_FOUND', `command ${id} not found`),
  deviceDisabled: (id: string) => new AppError('DEVICE_DISABLED', `device ${id} is disabled`),
  alreadyExists: (what: string) => new AppError('ALREADY_EXISTS', `${what} already exists`),
  commandNotOpen: (id: string, status: string) =>
    new AppError('COMMAND_NOT_OPEN', `command ${id} is ${status}`),
  invalidCursor: () => new AppError('INVALID_CURSOR'),
  invalidTimeRange: (detail: string) => new AppError('INVALID_TIME_RANGE', detail),
};
