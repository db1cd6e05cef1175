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

/**
 * Read again every 2 s for the first minute something is awaited, then every 15 s, and not after 10
 * minutes: a page left open (a device that stays offline, a bridge) does not read for ever.
 */
const POLL_MS = 2000;
const POLL_SLOW_MS = 15_000;
const POLL_FAST = 30;
const POLL_FOR_MS = 600_000;

/**
 * Polling while an answer is awaited (a device's answer to a command, its acknowledgement of a
 * desired version, a bridge's state): while `waiting`, the tick changes a little after each new
 * `answer`, so that a read depending on it runs again; soon at first, then seldom, then no more
 * (`stopped`). `restart()` (after a send) and a change of `restartOn` (a Refresh) start it over.
 */
export function usePoll(
  waiting: boolean,
  answer: unknown,
  restartOn: readonly unknown[] = [],
): { tick: number; stopped: boolean; restart(): void } {
  const [tick, setTick] = useState(0);
  const [stopped, setStopped] = useState(false);
  const polls = useRef(0);
  const since = useRef(Date.now());
  function restart() {
    polls.current = 0;
    since.current = Date.now();
    setStopped(false);
  }
  useEffect(restart, restartOn);
  useEffect(() => {
    if (!waiting || stopped) return;
    if (Date.now() - since.current >= POLL_FOR_MS) {
      setStopped(true);
      return;
    }
    const delay = polls.current++ < POLL_FAST ? POLL_MS : POLL_SLOW_MS;
    const timer = setTimeout(() => setTick((n) => n + 1), delay);
    return () => clearTimeout(timer);
  }, [waiting, answer, stopped]);
  return { tick, stopped: waiting && stopped, restart };
}
