/**
 * Reading from the API as a screen part does: again whenever `deps` change (a Refresh, another
 * device, a poll), the answer applied only if no newer read started and the part is still shown, and
 * a refusal turned into the text to show — unless it ended the session, which the screen handles.
 */
import { useEffect } from 'preact/hooks';
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
