/** A minimal HTTPS JSON client for the REST API, trusting the platform CA, with kept-alive sockets. */
import { Agent, request } from 'node:https';

export interface Response {
  status: number;
  text: string;
  // Responses come in many shapes; the benchmark reads a few fields of each.
  body: unknown;
}

export class Rest {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    private readonly ca: string,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 32, ca, servername: 'localhost' });
  }

  /**
   * One request. `opts.json` is a body already serialised (so a large one is not serialised inside a
   * timed call); `opts.timeoutMs` replaces the 30 s socket inactivity timeout.
   */
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    opts: { json?: string; timeoutMs?: number } = {},
  ): Promise<Response> {
    const payload = opts.json ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: this.port,
          ca: this.ca,
          agent: this.agent,
          method,
          path,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* not JSON (e.g. /metrics): keep the text */
            }
            resolve({ status: res.statusCode ?? 0, text, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Calls and insists on `status`; returns the parsed body. */
  async expect<T>(status: number, method: string, path: string, token?: string, body?: unknown): Promise<T> {
    const r = await this.call(method, path, token, body);
    if (r.status !== status)
      throw new Error(`${method} ${path}: expected ${status}, got ${r.status}: ${r.text.slice(0, 300)}`);
    return r.body as T;
  }

  close(): void {
    this.agent.destroy();
  }
}
