import { Errors } from '../../errors.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import {
  DEFAULT_WINDOW_MS,
  MAX_WINDOW_MS,
  type FleetProblem,
  type FleetProblemService,
  type ProblemQuery,
} from './fleet.js';
import { PROBLEM_KINDS, type ProblemPlace, type ProblemRow, type ProblemStore } from './problems-store.js';

const isPlace = (v: unknown): v is ProblemPlace => {
  const p = v as Partial<ProblemPlace> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    Number.isSafeInteger(p.at) &&
    typeof p.kind === 'string' &&
    typeof p.ref === 'string'
  );
};

const toProblem = (r: ProblemRow): FleetProblem => ({
  id: r.ref,
  kind: r.kind,
  deviceId: r.device_id,
  deviceName: r.device_name,
  serial: r.serial,
  at: Number(r.at),
  code: r.code,
  message: r.message,
  topic: r.topic,
  count: Number(r.n),
});

export function createFleetProblemService(deps: {
  store: ProblemStore;
  cursors: Cursors;
  now?: () => number;
}): FleetProblemService {
  const { store, cursors } = deps;
  const now = deps.now ?? Date.now;

  /** The earliest time asked for: 24 h ago by default, never more than 30 days back, never ahead. */
  function since(from: number | undefined): number {
    const t = now();
    if (from === undefined) return t - DEFAULT_WINDOW_MS;
    if (from > t) throw Errors.invalidTimeRange('from is in the future');
    return Math.max(from, t - MAX_WINDOW_MS);
  }

  const scope = (caller: Parameters<FleetProblemService['list']>[0], q: Omit<ProblemQuery, 'cursor'>) => ({
    tenantId: caller.tenantId,
    from: since(q.from),
    ...(q.deviceId !== undefined ? { deviceId: q.deviceId } : {}),
    ...(caller.visible ? { visible: caller.visible } : {}),
    ...(q.kind ? { kind: q.kind } : {}),
  });

  return {
    async list(caller, q) {
      const limit = clampLimit(q.limit);
      const after = cursors.decode(q.cursor, isPlace);
      const rows = await store.page({ ...scope(caller, q), ...(after ? { after } : {}), limit });
      return cursors.pageOf(rows, limit, toProblem, (r) => ({ at: Number(r.at), kind: r.kind, ref: r.ref }));
    },

    async counts(caller, q) {
      const s = scope(caller, q);
      const counted = await store.counts(s);
      const items = PROBLEM_KINDS.map((kind) => ({ kind, count: counted.get(kind) ?? 0 }));
      return { from: s.from, total: items.reduce((n, i) => n + i.count, 0), items };
    },
  };
}
