/**
 * What the bench has measured so far, kept as it goes, so that a run that fails or runs out of time
 * still prints one valid JSON object: every figure measured up to then, each phase's outcome, and the
 * reason it stopped. On a loaded machine a phase can take several times its usual time; a phase whose
 * usual time no longer fits before the deadline is skipped (with the reason) instead of being cut off
 * halfway, and a phase that fails does not take the phases after it down unless they need it.
 */
import { performance } from 'node:perf_hooks';

export type PhaseStatus = 'done' | 'failed' | 'skipped';

export interface PhaseOutcome {
  name: string;
  status: PhaseStatus;
  seconds: number;
  reason?: string;
}

export class PhaseSkipped extends Error {}

export class BenchReport {
  private readonly values: Record<string, unknown> = {};
  private readonly outcomes: PhaseOutcome[] = [];
  /** The phase running now: named in the report when the run is cut short. */
  current = 'setup';

  constructor(
    private readonly startedAt: number,
    private readonly deadlineMs: number,
  ) {}

  remainingMs(): number {
    return this.deadlineMs - (performance.now() - this.startedAt);
  }

  /** Adds figures to the report as soon as they are measured. */
  set(fields: Record<string, unknown>): void {
    Object.assign(this.values, fields);
  }

  /**
   * Runs a phase that later phases need: its failure ends the run (the caller's catch prints the
   * report). `needsMs`: about how long the phase takes on a quiet machine; when less than that is left,
   * the phase is not started.
   */
  async required<T>(name: string, needsMs: number, fn: () => Promise<T>): Promise<T> {
    this.checkTime(name, needsMs, true);
    const t0 = performance.now();
    this.current = name;
    try {
      const result = await fn();
      this.outcomes.push({ name, status: 'done', seconds: secondsSince(t0) });
      return result;
    } catch (err) {
      this.outcomes.push({ name, status: 'failed', seconds: secondsSince(t0), reason: messageOf(err) });
      throw err;
    }
  }

  /** Runs a phase nothing else depends on: a failure or a lack of time is recorded and the run goes on. */
  async optional<T>(name: string, needsMs: number, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      this.checkTime(name, needsMs, false);
    } catch (err) {
      if (err instanceof PhaseSkipped) return undefined;
      throw err;
    }
    const t0 = performance.now();
    this.current = name;
    try {
      const result = await fn();
      this.outcomes.push({ name, status: 'done', seconds: secondsSince(t0) });
      return result;
    } catch (err) {
      this.outcomes.push({ name, status: 'failed', seconds: secondsSince(t0), reason: messageOf(err) });
      return undefined;
    }
  }

  private checkTime(name: string, needsMs: number, required: boolean): void {
    const left = this.remainingMs();
    if (left >= needsMs) return;
    const reason = `not started: it needs about ${Math.round(needsMs / 1000)} s and ${Math.max(0, Math.round(left / 1000))} s were left before the deadline`;
    this.outcomes.push({ name, status: 'skipped', seconds: 0, reason });
    if (required) throw new PhaseSkipped(`${name} ${reason}`);
    throw new PhaseSkipped(reason);
  }

  /** The complete report: what main assembled, over the figures set along the way. */
  complete(result: Record<string, unknown>): Record<string, unknown> {
    return {
      ...this.values,
      ...result,
      complete: this.outcomes.every((p) => p.status === 'done'),
      phases: this.outcomes,
    };
  }

  /** The report of a run that stopped early: every figure measured until then and why it stopped. */
  partial(reason: string): Record<string, unknown> {
    return {
      date: new Date().toISOString(),
      ...this.values,
      complete: false,
      stoppedIn: this.current,
      reason,
      phases: this.outcomes,
      wallSeconds: secondsSince(this.startedAt),
    };
  }
}

function secondsSince(t0: number): number {
  return Math.round((performance.now() - t0) / 100) / 10;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
