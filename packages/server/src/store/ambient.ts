/**
 * Ambient transactions. Inside `db.transaction(fn)`, everything `fn` awaits that queries the same `Db`
 * (a service calling another service, a store built on `db` rather than on `tx`) joins that one
 * transaction instead of taking another connection (PostgreSQL) or waiting behind it for ever
 * (PGlite, one connection). A nested `db.transaction` becomes a SAVEPOINT, and so does each statement
 * made through `db`: a caller that catches a failure (a unique violation mapped to ALREADY_EXISTS, then
 * something else done) keeps a usable transaction, as it would have outside one. Nested transactions
 * of one transaction run one at a time (a connection runs one statement at a time anyway): never two
 * `db.transaction` calls side by side under one transaction.
 *
 * Work that must follow the commit and nothing else (bus notices) or must be part of it (audit records
 * of what the transaction did) is queued with `enqueue`: `beforeCommit` items are written inside the
 * transaction just before COMMIT, `afterCommit` items run after it, and both are dropped when the
 * transaction (or the savepoint they were queued in) rolls back.
 *
 * The context follows every continuation started inside `fn`, timers included. A transaction that has
 * ended is never used again: queries made after it finished run outside any transaction. Code that
 * schedules work for later (batch writers) runs it with `outsideTransaction`, so that the work neither
 * joins a transaction nor waits for it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db, Queryable, TransactionOptions } from './db.js';

/** Work queued in a transaction, handed over in order when it commits. */
export interface CommitHook<T> {
  /** Runs inside the transaction before COMMIT; a failure rolls the whole transaction back. */
  beforeCommit?(items: T[]): Promise<void>;
  /**
   * Runs after COMMIT, outside the transaction; the transaction's promise resolves once it is done, so
   * a request's response leaves after its notices were handed on.
   */
  afterCommit?(items: T[]): void | Promise<void>;
}

interface Scope {
  owner: object;
  tx: Queryable;
  open: boolean;
  savepoints: number;
  /** Statements made through `db` run one after another, each in its savepoint. */
  lane: Promise<unknown>;
  queued: Map<CommitHook<unknown>, unknown[]>;
}

const storage = new AsyncLocalStorage<Scope>();
/**
 * Ambient transactions open now. When none is, the storage is disabled: on Node 20 an enabled
 * AsyncLocalStorage installs a hook on every promise of the process (measured: awaits 2.5× slower,
 * the MQTT publish path 7% slower), so it is on only while a transaction needs it; `run` turns it on
 * again. Nothing needs the context then: a scope that has ended is never used again anyway.
 */
let openScopes = 0;

function openScope(): Scope | undefined {
  const scope = storage.getStore();
  return scope?.open ? scope : undefined;
}

const committed: CommitHook<() => void> = {
  afterCommit: (fns) => {
    for (const fn of fns) fn();
  },
};

/**
 * Runs `fn` once the ambient transaction has committed (never if it rolls back), or at once outside
 * one: for dropping a cache entry of a change, which another request could otherwise fill again from
 * the old committed row before the change commits.
 */
export function whenCommitted(fn: () => void): void {
  if (!enqueue(committed, fn)) fn();
}

/** Whether the caller runs inside a transaction that has not ended. */
export function inTransaction(): boolean {
  return openScope() !== undefined;
}

/**
 * Queues `item` for `hook` in the ambient transaction and returns true; returns false (and queues
 * nothing) when there is none, so that the caller acts at once.
 */
export function enqueue<T>(hook: CommitHook<T>, item: T): boolean {
  const scope = openScope();
  if (!scope) return false;
  const key = hook as CommitHook<unknown>;
  const items = scope.queued.get(key);
  if (items) items.push(item);
  else scope.queued.set(key, [item]);
  return true;
}

/**
 * Removes and returns what is queued for `hook` in the ambient transaction, for a caller that writes
 * it itself before the transaction ends.
 */
export function takeQueued<T>(hook: CommitHook<T>): T[] {
  const scope = openScope();
  const items = scope?.queued.get(hook as CommitHook<unknown>);
  if (!scope || !items) return [];
  scope.queued.delete(hook as CommitHook<unknown>);
  return items as T[];
}

/** Runs `fn` outside any ambient transaction (scheduled work that belongs to no request). */
export function outsideTransaction<T>(fn: () => T): T {
  return storage.exit(fn);
}

async function runBeforeCommit(scope: Scope): Promise<void> {
  // A hook may queue more work (an audit record whose writing reports another): run until none is
  // left. Items stay queued for the hook's `afterCommit`.
  const handed = new Map<CommitHook<unknown>, number>();
  for (;;) {
    const next = [...scope.queued].find(
      ([hook, items]) => hook.beforeCommit && items.length > (handed.get(hook) ?? 0),
    );
    if (!next) return;
    const [hook, items] = next;
    const from = handed.get(hook) ?? 0;
    handed.set(hook, items.length);
    await hook.beforeCommit!(items.slice(from));
  }
}

async function runAfterCommit(scope: Scope): Promise<void> {
  // Every hook runs even when one fails: the change is committed, and each hook's work follows it.
  let failure: { error: unknown } | undefined;
  for (const [hook, items] of scope.queued) {
    if (!hook.afterCommit || items.length === 0) continue;
    try {
      await outsideTransaction(() => hook.afterCommit!(items));
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

async function inSavepoint<T>(scope: Scope, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  // Never on a connection whose transaction has ended (it may hold another request's by now).
  if (!scope.open) throw new Error('the transaction this statement belonged to has ended');
  const name = `sp_${++scope.savepoints}`;
  const lengths = new Map([...scope.queued].map(([hook, items]) => [hook, items.length]));
  await scope.tx.query(`SAVEPOINT ${name}`);
  try {
    const value = await fn(scope.tx);
    await scope.tx.query(`RELEASE SAVEPOINT ${name}`);
    return value;
  } catch (e) {
    await scope.tx.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    // What the rolled-back part queued is dropped with it.
    for (const [hook, items] of scope.queued) {
      const before = lengths.get(hook);
      if (before === undefined) scope.queued.delete(hook);
      else items.length = before;
    }
    throw e;
  }
}

/** Wraps a driver's `Db` so that its queries and transactions join the ambient transaction. */
export function withAmbientTransactions(base: Db): Db {
  const db: Db = {
    kind: base.kind,
    query<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
      const scope = openScope();
      if (!scope || scope.owner !== db) return base.query<T>(sql, params);
      // A statement made through `db` keeps the meaning it has outside a transaction: when it fails
      // (a unique violation its caller catches), the transaction goes on without it instead of being
      // left unusable. Statements made through the transaction's own handle follow PostgreSQL's rule.
      // Queued one after another, so that concurrent callers (Promise.all) do not interleave their
      // savepoints on the one connection.
      const result = scope.lane.then(() => inSavepoint(scope, (tx) => tx.query<T>(sql, params)));
      scope.lane = result.catch(() => undefined);
      return result;
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const current = openScope();
      if (current && current.owner === db) return inSavepoint(current, fn);
      if (options?.ambient === false) return base.transaction(fn);
      const scope: Scope = {
        owner: db,
        tx: base,
        open: true,
        savepoints: 0,
        lane: Promise.resolve(),
        queued: new Map(),
      };
      let value: T;
      openScopes++;
      try {
        value = await base.transaction((tx) => {
          scope.tx = tx;
          return storage.run(scope, async () => {
            const v = await fn(tx);
            // A statement made through `db` and not awaited by `fn` still runs before COMMIT.
            await scope.lane;
            await runBeforeCommit(scope);
            return v;
          });
        });
      } finally {
        scope.open = false;
        if (--openScopes === 0) storage.disable();
      }
      await runAfterCommit(scope);
      return value;
    },
    exec: (sql) => base.exec(sql),
    close: () => base.close(),
  };
  return db;
}
