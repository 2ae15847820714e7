/** Docker API round trips over the daemon socket, as the CLI makes them: keep-alive HTTP/1.1 on a unix socket. */
import { Agent, request } from 'node:http';
import { summarize, type Summary } from './stats';

export interface ApiCall {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export const API_CALLS: readonly ApiCall[] = [
  { label: 'HEAD /_ping', method: 'HEAD', path: '/_ping' },
  { label: 'GET /containers/json', method: 'GET', path: '/v1.41/containers/json' },
  // A logged-out CLI's pull of an image already present: the daemon still asks the mirror for the manifest.
  { label: 'POST /images/create (cached)', method: 'POST', path: '/v1.41/images/create?fromImage=alpine&tag=latest', headers: { 'X-Registry-Auth': 'e30=' } },
];

export interface Measured {
  readonly latency: Summary;
  readonly perSecond: number;
}

function roundTrip(agent: Agent, socketPath: string, call: ApiCall): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = request({ agent, socketPath, method: call.method, path: call.path, headers: call.headers }, (res) => {
      res.resume();
      res.on('end', () => {
        // A pull reports failure inside a 200 stream only after the plugin allowed it; a denial is a 403.
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${call.label}: HTTP ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - start) / 1e6);
      });
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${call.label}: no answer within 60 s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Calls to one daemon socket over keep-alive connections that last across batches, so a measurement can be split
 * into batches interleaved with other daemons' (ABCABC...), all under the same conditions of the machine.
 */
export class CallSeries {
  private readonly samples: number[] = [];
  private seconds = 0;
  private readonly agent: Agent;

  constructor(
    private readonly socketPath: string,
    private readonly call: ApiCall,
    private readonly concurrency: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  }

  /** Unrecorded calls, one at a time. */
  async warmUp(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await roundTrip(this.agent, this.socketPath, this.call);
  }

  /** `count` recorded calls with `concurrency` in flight. */
  async batch(count: number): Promise<void> {
    let next = 0;
    const started = process.hrtime.bigint();
    const worker = async () => {
      for (let i = next++; i < count; i = next++) this.samples.push(await roundTrip(this.agent, this.socketPath, this.call));
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
    this.seconds += Number(process.hrtime.bigint() - started) / 1e9;
  }

  /** Every batch so far, and closes the connections. */
  finish(): Measured {
    this.agent.destroy();
    return { latency: summarize(this.samples), perSecond: this.samples.length / this.seconds };
  }
}
