/**
 * A list the API answers page by page by its cursor (devices, deployments, a deployment's devices,
 * deliveries, audit records), read and shown the same way everywhere: a status line that says which
 * page and how many (a live region, and where the focus goes after a move, since the button pressed
 * may be disabled then), the list, and Previous and Next.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SessionOver } from './actions.js';
import { ApiProblem } from './api.js';
import { plural } from './messages.js';

interface CursorPage {
  items: readonly unknown[];
  nextCursor: string | null;
}

type Cursors = readonly (string | undefined)[];

export interface Pages<P extends CursorPage> {
  /** The page shown, once read. */
  page: P | undefined;
  /** Its number, from 1. */
  number: number;
  loading: boolean;
  /** The last read's refusal (one that ended the session is the screen's). */
  error: ApiProblem | undefined;
  previous(): void;
  next(): void;
  /** Reads the page shown again (a poll, after a change). */
  reload(): void;
  /** Changes the page shown (an item the API answered anew). */
  update(change: (page: P) => P): void;
  statusRef: { current: HTMLParagraphElement | null };
}

/**
 * Reads a list page by page. The cursors of the pages before the one shown are kept, so Previous goes
 * back to them; they change only once the page they lead to is read, so the number shown is always the
 * page's. Another `filter` starts at its first page; a change of `again` (a Refresh, a poll) reads the
 * page shown again. A newer read wins over an older one still on its way.
 */
export function usePagedRead<P extends CursorPage>(
  read: (cursor: string | undefined) => Promise<P>,
  filter: string,
  again: readonly unknown[],
  sessionOver: SessionOver,
): Pages<P> {
  const [shown, setShown] = useState<{ page: P; cursors: Cursors; filter: string } | undefined>(undefined);
  const [error, setError] = useState<ApiProblem | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const latest = useRef(0);
  const statusRef = useRef<HTMLParagraphElement>(null);

  async function load(cursors: Cursors, moved = false) {
    const request = ++latest.current;
    setLoading(true);
    try {
      const page = await read(cursors[cursors.length - 1]);
      if (request !== latest.current) return;
      setShown({ page, cursors, filter });
      setError(undefined);
      if (moved) statusRef.current?.focus();
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (request !== latest.current || sessionOver(e)) return;
      setError(e);
      // What another filter matches is not what was shown before it.
      if (shown?.filter !== filter) setShown(undefined);
    } finally {
      if (request === latest.current) setLoading(false);
    }
  }

  // The page shown stays until the next one is read, so the list does not flicker.
  useEffect(() => void load(shown?.filter === filter ? shown.cursors : [undefined]), [filter, ...again]);

  const cursors = shown?.cursors ?? [undefined];
  return {
    page: shown?.page,
    number: cursors.length,
    loading,
    error,
    previous: () => void load(cursors.slice(0, -1), true),
    next: () => {
      const next = shown?.page.nextCursor;
      if (next) void load([...cursors, next], true);
    },
    reload: () => void load(cursors),
    update: (change) => setShown((s) => s && { ...s, page: change(s.page) }),
    statusRef,
  };
}

/**
 * A paged list as it is shown: the status line, the list (`children`, when the page holds any), and
 * the pager when there is more than one page.
 */
export function PagedList<P extends CursorPage>(props: {
  pages: Pages<P>;
  /** What the list holds, one and many: ['device', 'devices']. */
  noun: readonly [string, string];
  /** What an empty first page says. */
  empty: string;
  /** The pager's name, e.g. "Pages of devices". */
  label: string;
  previousLabel?: string;
  nextLabel?: string;
  children: ComponentChildren;
}) {
  const { page, number, loading } = props.pages;
  if (!page) return null;
  const n = page.items.length;
  return (
    <>
      <p class="page-status" role="status" tabIndex={-1} ref={props.pages.statusRef}>
        {n === 0
          ? number === 1
            ? props.empty
            : `Page ${number} is empty.`
          : `Page ${number}: ${plural(n, ...props.noun)}${page.nextCursor ? ', more on the next page' : ''}.`}
      </p>
      {n > 0 && props.children}
      {(number > 1 || page.nextCursor) && (
        <nav class="pager actions" aria-label={props.label}>
          <button type="button" disabled={loading || number === 1} onClick={props.pages.previous}>
            {props.previousLabel ?? 'Previous page'}
          </button>
          <button type="button" disabled={loading || !page.nextCursor} onClick={props.pages.next}>
            {props.nextLabel ?? 'Next page'}
          </button>
        </nav>
      )}
    </>
  );
}
