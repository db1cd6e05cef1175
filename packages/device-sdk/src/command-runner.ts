/**
 * Runs commands for `MooringDevice`: the handler registered for the command's name, with a timeout;
 * its return value is the result, a throw, an unknown name, an expired command or a timeout a
 * failure. Delivery is at least once, so the results of the last 256 commands are remembered and
 * given again, without running the handler, when a command arrives again.
 */
import type { CommandMessage } from '@mooring/protocol';

export type CommandHandler = (params: unknown, command: CommandMessage) => Promise<unknown> | unknown;

const REMEMBERED = 256;

export class CommandRunner {
  private readonly handlers = new Map<string, CommandHandler>();
  private readonly results = new Map<string, object>();

  constructor(private readonly timeoutMs: number) {}

  set(name: string, handler: CommandHandler): void {
    this.handlers.set(name, handler);
  }

  /** The result to report for a delivery of `command`. */
  async run(command: CommandMessage): Promise<object> {
    let result = this.results.get(command.id);
    if (result) return result;
    const handler = this.handlers.get(command.name);
    if (!handler) result = { status: 'failed', error: `no handler for command '${command.name}'` };
    else if (command.expiresAt && Date.parse(command.expiresAt) < Date.now())
      result = { status: 'failed', error: 'command expired before it was handled' };
    else {
      let timer: NodeJS.Timeout | undefined;
      try {
        const value = await Promise.race([
          Promise.resolve().then(() => handler(command.params, command)),
          new Promise((_r, reject) => {
            timer = setTimeout(
              () => reject(new Error(`handler timed out after ${this.timeoutMs} ms`)),
              this.timeoutMs,
            );
          }),
        ]);
        result = { status: 'succeeded', ...(value !== undefined ? { result: value } : {}) };
      } catch (e) {
        result = { status: 'failed', error: String((e as Error).message ?? e).slice(0, 1024) };
      } finally {
        clearTimeout(timer);
      }
    }
    this.results.set(command.id, result);
    if (this.results.size > REMEMBERED) this.results.delete(this.results.keys().next().value!);
    return result;
  }
}
