/**
 * The new-deployment form's fields as typed, and the `POST /v1/deployments` body they say: only what
 * was filled in (an empty field sends nothing, so the API's default applies), numbers checked to be
 * numbers here and everything else left to the API, whose refusal's `errors` are put back on the
 * fields they name. Pure, so that it is tested without a browser (`deployment-request.test.ts`).
 */
import type { ApiProblem, DeploymentRequest } from '../shared/api.js';
import { listOf, setOf } from '../shared/messages.js';

export interface Draft {
  artifactId: string;
  name: string;
  tags: string;
  versions: string;
  belowVersion: string;
  deviceIds: string;
  phases: string;
  soakMinutes: string;
  maxInFlight: string;
  retries: string;
  failurePercent: string;
  minExecutions: string;
  gate: boolean;
  marginPercent: string;
  minSample: string;
  windowMinutes: string;
  maxReboots: string;
}

export const EMPTY_DRAFT: Draft = {
  artifactId: '',
  name: '',
  tags: '',
  versions: '',
  belowVersion: '',
  deviceIds: '',
  phases: '',
  soakMinutes: '',
  maxInFlight: '',
  retries: '',
  failurePercent: '',
  minExecutions: '',
  gate: true,
  marginPercent: '',
  minSample: '',
  windowMinutes: '',
  maxReboots: '',
};

/** The request member each field fills, to put a refusal's `errors` on the field. */
const FIELD_PATHS: Partial<Record<keyof Draft, string>> = {
  artifactId: '/artifactId',
  name: '/name',
  tags: '/target/tags',
  versions: '/target/versions',
  belowVersion: '/target/belowVersion',
  deviceIds: '/target/deviceIds',
  phases: '/phases',
  maxInFlight: '/maxInFlight',
  retries: '/retries',
  failurePercent: '/statusRule',
  marginPercent: '/healthGate/marginPercent',
  minSample: '/healthGate/minSample',
  windowMinutes: '/healthGate/windowSeconds',
  maxReboots: '/healthGate/maxReboots',
};

/** A number typed in a field; undefined when empty. Throws the field's complaint when not a number. */
function numberOf(field: keyof Draft, text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  if (!Number.isFinite(n)) throw new FieldProblem(field, 'Not a number.');
  return n;
}

export class FieldProblem extends Error {
  constructor(
    readonly field: keyof Draft,
    message: string,
  ) {
    super(message);
  }
}

/** The request the form says; only what was filled in. */
export function requestOf(d: Draft): DeploymentRequest {
  const num = (f: keyof Draft) => numberOf(f, d[f] as string);
  const seconds = (f: keyof Draft) => {
    const m = num(f);
    return m === undefined ? undefined : Math.round(m * 60);
  };
  const target: DeploymentRequest['target'] = {};
  if (setOf(d.tags).length) target.tags = setOf(d.tags);
  if (setOf(d.versions).length) target.versions = setOf(d.versions);
  if (d.belowVersion.trim()) target.belowVersion = d.belowVersion.trim();
  if (setOf(d.deviceIds).length) target.deviceIds = setOf(d.deviceIds);
  const body: DeploymentRequest = { artifactId: d.artifactId, target };
  if (d.name.trim()) body.name = d.name.trim();
  const soakSeconds = seconds('soakMinutes');
  if (d.phases.trim()) {
    // Not deduplicated: a share named twice is the API's to refuse, not the form's to drop.
    body.phases = listOf(d.phases).map((p) => {
      const percent = Number(p.replace(/%$/, ''));
      if (!Number.isFinite(percent)) throw new FieldProblem('phases', `Not a percentage: ${p}`);
      return { percent, ...(soakSeconds !== undefined ? { soakSeconds } : {}) };
    });
  } else if (soakSeconds !== undefined)
    throw new FieldProblem('soakMinutes', 'The soak applies to the phases: give the phases too.');
  const maxInFlight = num('maxInFlight');
  if (maxInFlight !== undefined) body.maxInFlight = maxInFlight;
  const retries = num('retries');
  if (retries !== undefined) body.retries = { max: retries };
  const failurePercent = num('failurePercent');
  const minExecutions = num('minExecutions');
  if ((failurePercent === undefined) !== (minExecutions === undefined))
    throw new FieldProblem('failurePercent', 'Give both the share and the number of updates, or neither.');
  if (failurePercent !== undefined && minExecutions !== undefined)
    body.statusRule = { failurePercent, minExecutions };
  const gate: NonNullable<DeploymentRequest['healthGate']> = {};
  if (!d.gate) gate.enabled = false;
  else {
    const marginPercent = num('marginPercent');
    const minSample = num('minSample');
    const windowSeconds = seconds('windowMinutes');
    const maxReboots = num('maxReboots');
    if (marginPercent !== undefined) gate.marginPercent = marginPercent;
    if (minSample !== undefined) gate.minSample = minSample;
    if (windowSeconds !== undefined) gate.windowSeconds = windowSeconds;
    if (maxReboots !== undefined) gate.maxReboots = maxReboots;
  }
  if (Object.keys(gate).length > 0) body.healthGate = gate;
  return body;
}

/** The fields a refusal's `errors` name, with their messages. */
export function fieldErrors(p: ApiProblem): Partial<Record<keyof Draft, string>> {
  const errors = Array.isArray(p.members.errors)
    ? (p.members.errors as { path?: unknown; message?: unknown }[])
    : [];
  const out: Partial<Record<keyof Draft, string>> = {};
  for (const e of errors) {
    if (typeof e.path !== 'string') continue;
    for (const [field, prefix] of Object.entries(FIELD_PATHS) as [keyof Draft, string][])
      if (e.path === prefix || e.path.startsWith(`${prefix}/`)) {
        const message = typeof e.message === 'string' ? e.message : 'is not valid';
        out[field] = out[field] ? `${out[field]}; ${message}` : message;
      }
  }
  return out;
}
