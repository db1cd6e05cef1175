/**
 * Reading from the API as a screen part does: again whenever `deps` change (a Refresh, another
 * device, a poll), the answer applied only if no newer read started and the part is still shown, and
 * a refusal turned into the text to show — unless it ended the session, which the screen handles.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem } from './api.js';
import { problemText } from './messages.js';

export function useApiRead<T>(
  read: () => Promise<T>,
  apply: (value: T) => void,
  deps: readonly unknown[],
  on: { sessionOver(e: unknown): boolean; setError(text: string | undefined): void },
): void {
  useEffect(() => {
    let current = true;
    read()
      .then((value) => {
        if (!current) return;
        apply(value);
        on.setError(undefined);
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiProblem)) throw e;
        if (current && !on.sessionOver(e)) on.setError(problemText(e));
      });
    return () => {
      current = false;
    };
  }, deps);
}

/** Read again every 2 s for the first minute something is awaited, then every 15 s. */
const POLL_MS = 2000;
const POLL_SLOW_MS = 15_000;
const POLL_FAST = 30;

/**
 * Polling while an answer is awaited (a device's answer to a command, its acknowledgement of a
 * desired version): while `waiting`, the tick changes a little after each new `answer`, so that a read
 * depending on it runs again; soon at first, then seldom. `restart()` (after a send) makes it soon again.
 */
export function usePoll(waiting: boolean, answer: unknown): { tick: number; restart(): void } {
  const [tick, setTick] = useState(0);
  const polls = useRef(0);
  useEffect(() => {
    if (!waiting) return;
    const delay = polls.current++ < POLL_FAST ? POLL_MS : POLL_SLOW_MS;
    const timer = setTimeout(() => setTick((n) => n + 1), delay);
    return () => clearTimeout(timer);
  }, [waiting, answer]);
  return {
    tick,
    restart() {
      polls.current = 0;
    },
  };
}
