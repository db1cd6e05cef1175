/**
 * What a refusal means for the person at the console, in words. The console branches on the API's
 * stable codes and the members they carry (`attemptsLeft`, `retryAfterMs`, `operationStatus`); the
 * server's own `detail` is the fallback, shown as text like everything else the server sends.
 */
import type { ApiProblem } from './api.js';

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** How long ago an instant was, in words: "just now", "5 minutes ago". */
export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${plural(Math.round(s / 60), 'minute')} ago`;
  if (s < 86_400) return `${plural(Math.round(s / 3600), 'hour')} ago`;
  return `${plural(Math.round(s / 86_400), 'day')} ago`;
}

export const when = (ms: number) => new Date(ms).toLocaleString();

/** A JSON value as indented text (shown as text, never as markup). */
export const json = (value: unknown) => JSON.stringify(value, null, 2);

/** What is typed as a list: the words separated by spaces or commas. */
export const listOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The same, each once: the API refuses a list of tags or ids that names one twice. */
export const setOf = (text: string) => [...new Set(listOf(text))];

function minutes(ms: number | undefined): string {
  return ms === undefined ? 'a while' : plural(Math.max(1, Math.ceil(ms / 60_000)), 'minute');
}

/** Any refusal, when nothing more particular applies. */
export function problemText(p: ApiProblem): string {
  if (p.code === 'NETWORK') return p.message;
  if (p.code === 'FORBIDDEN') {
    const { permission, missing } = p.members;
    // The delegation rule: nobody hands on, or acts on, more than they hold (`permission@scope`).
    if (Array.isArray(missing) && missing.length > 0)
      return `Refused (FORBIDDEN): nobody may hand on or act on more than they hold, and you do not hold ${missing.join(', ')}.`;
    return typeof permission === 'string'
      ? `You are not allowed to do this: it needs the permission ${permission} (FORBIDDEN).`
      : `You are not allowed to do this. ${p.message} (FORBIDDEN)`;
  }
  if (p.code === 'TOTP_ENROLLMENT_REQUIRED')
    return 'Your tenant requires two-factor authentication: set it up on your account page first (TOTP_ENROLLMENT_REQUIRED).';
  return p.message ? `${p.message} (${p.code})` : `The request failed (${p.code}).`;
}

export function signInText(p: ApiProblem): string {
  switch (p.code) {
    case 'INVALID_CREDENTIALS': {
      const left = p.number('attemptsLeft');
      if (left === undefined) return 'Wrong user name or password.';
      return left === 0
        ? 'Wrong user name or password. Sign-ins for this user name are now locked for a while.'
        : `Wrong user name or password. ${plural(left, 'attempt')} left before sign-ins for this user name are locked.`;
    }
    case 'TOTP_INVALID': {
      const left = p.number('attemptsLeft');
      return `That code was not accepted: it is wrong, expired or was used already. Wait for the next code.${
        left !== undefined ? ` ${plural(left, 'attempt')} left before sign-ins are locked.` : ''
      }`;
    }
    case 'ACCOUNT_LOCKED':
      return `Too many failed sign-ins: this user name is locked for about ${minutes(p.number('retryAfterMs'))}. Your password together with a one-time code still gets through, or an administrator can lift the lock.`;
    case 'RATE_LIMITED':
      return `Too many failed sign-ins from this address. Try again in about ${minutes(p.number('retryAfterMs'))}.`;
    default:
      return problemText(p);
  }
}

export function passwordText(p: ApiProblem): string {
  if (p.code === 'PASSWORD_TOO_WEAK') return `That password is refused: ${p.message}`;
  if (p.code === 'INVALID_CREDENTIALS') return 'The current password is wrong.';
  return problemText(p);
}

/** A refused approval or rejection of a provisioning operation. */
export function decisionText(p: ApiProblem): string {
  switch (p.code) {
    case 'VERIFICATION_CODE_WRONG': {
      const left = p.number('attemptsLeft');
      if (left === 0)
        return 'Wrong code. That was the last attempt: the operation is locked. Start provisioning again on the device to get a new code.';
      return `Wrong code. ${left === undefined ? 'A few attempts' : plural(left, 'attempt')} left; after that the operation locks and the device must start again.`;
    }
    case 'OPERATION_NOT_PENDING': {
      const status = p.members.operationStatus;
      return `This device is no longer waiting: its operation is ${typeof status === 'string' ? status : 'decided'}.`;
    }
    case 'PROVISIONING_TOKEN_EXHAUSTED':
      return "The device's provisioning token is used up, expired or revoked: it cannot provision a device. Issue a new token for it.";
    case 'OPERATION_NOT_FOUND':
      return 'This operation no longer exists.';
    default:
      return problemText(p);
  }
}

/** A refused bulk change on the devices a filter matches. */
export function bulkText(p: ApiProblem): string {
  if (p.code === 'BULK_MATCH_CHANGED')
    return 'The devices the filter matches changed after they were counted, so nothing was changed.';
  return problemText(p);
}

/** A refused step of two-factor enrolment or its removal. */
export function totpText(p: ApiProblem): string {
  if (p.code === 'TOTP_INVALID')
    return 'That code was not accepted: it is wrong, expired or was used already. Wait for the next code (TOTP_INVALID).';
  if (p.code === 'TOTP_STATE')
    return `Two-factor authentication cannot change now: ${p.message} (TOTP_STATE).`;
  if (p.code === 'INVALID_CREDENTIALS') return 'The password is wrong (INVALID_CREDENTIALS).';
  return problemText(p);
}

/** A refused invitation or reset link. */
export function linkText(p: ApiProblem): string {
  if (p.code === 'LINK_INVALID')
    return 'This code is unknown, was used already, was revoked or has expired: ask an administrator for a new one (LINK_INVALID).';
  return passwordText(p);
}
