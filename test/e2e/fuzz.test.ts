import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { makeTempDir, removeTempDir, startPlugin, type PluginProcess } from '../harness';

/**
 * Never fail the daemon: >= 100k malformed, truncated, oversized, deeply nested, wrong-typed and random AuthZReq and
 * AuthZRes bodies and odd URIs against the real plugin process over its unix socket. Every protocol call must get a
 * 200 with a well-formed verdict, the process must stay up without an uncaught exception or unhandled rejection, and
 * its memory must stay bounded. Seeded: IA_FUZZ_SEED=<n> replays a run, IA_FUZZ_REQUESTS=<n> sizes it.
 */
jest.setTimeout(240_000);

const SEED = Number(process.env['IA_FUZZ_SEED'] ?? 20_261_125);
const TOTAL = Number(process.env['IA_FUZZ_REQUESTS'] ?? 100_000);
const CONCURRENCY = 24;
/** A reply slower than this is a hang, not a slow answer: the daemon would wait forever. */
const HANG_MS = 10_000;
const MiB = 1024 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
class Random {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.next() * 4294967296;
    return Buffer.from(words.buffer, 0, n);
  }
  text(n: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

const PROTOCOL_PATHS = ['/Plugin.Activate', '/AuthZPlugin.AuthZReq', '/AuthZPlugin.AuthZRes'] as const;
const API_PATHS = [
  '/images/create', '/images/load', '/build', '/session', '/grpc', '/commit', '/plugins/pull', '/plugins/create',
  '/plugins/image-access/disable', '/plugins/image-access:latest/set', '/plugins/x/upgrade', '/plugins/image-access',
  '/services/create', '/services/abc/update', '/containers/create', '/containers/json', '/_ping', '/images/x/tag', '',
];
const QUERY_KEYS = ['fromImage', 'tag', 'fromSrc', 'repo', 'remote', 'name', 'container', 'version', 'FROMIMAGE', ''];
const QUERY_VALUES = [
  'alpine', 'someone/evil', 'someone/evil:1.0', 'docker.io/library/alpine@sha256:' + 'a'.repeat(64), '-', 'https://x.example/a.tar',
  '%zz', '%2F%2F', '', 'a'.repeat(300), 'UPPER/Case', 'localhost:5000/x', ':', '@', '\u0000', '☃', '%E2%98%83',
];
const METHODS = ['POST', 'GET', 'DELETE', 'HEAD', 'PUT', 'post', 'PATCH', '', 'P\u0000ST', 'x'.repeat(100)];
const URI_NOISE = ['%', '%zz', '%00', '%2F', '%2e%2e', '//', '/./', '/../', '?', '&', '#', ';', '\u2028', '\ud800', '☃', ' '];

function oddUri(random: Random): string {
  if (random.chance(0.02)) return random.text(random.int(70_000), 'abc/%?&=#.:@');
  let path =
    random.pick(['', '', '', 'http://daemon', 'http:', 'HTTP://x:1', '//host', 'unix://']) +
    random.pick(['', '/v1.41', '/v1.24', '/v99.9', '/v', '/v1..2']) +
    random.pick(API_PATHS);
  if (random.chance(0.2)) path = encodeURIComponent(path).replace(/%2F/g, random.chance(0.5) ? '%2F' : '/');
  const pairs: string[] = [];
  for (let i = random.int(5); i > 0; i--) pairs.push(`${random.pick(QUERY_KEYS)}=${encodeURIComponent(random.pick(QUERY_VALUES))}`);
  let uri = pairs.length > 0 ? `${path}?${pairs.join('&')}` : path;
  for (let i = random.int(3); i > 0; i--) {
    const at = random.int(uri.length + 1);
    uri = uri.slice(0, at) + random.pick(URI_NOISE) + uri.slice(at);
  }
  return uri;
}

function randomJson(random: Random, depth: number): unknown {
  const kind = random.int(depth > 6 ? 5 : 8);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick([0, -1, 1e308, -1e-308, 2 ** 53 + 1, 3.5]);
    case 3:
      return random.text(random.int(40), 'aZ09 "\\/\u0000\u00e9\ud83d');
    case 4:
      return random.pick(QUERY_VALUES);
    case 5:
      return Array.from({ length: random.int(5) }, () => randomJson(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = random.int(6); i > 0; i--) {
        object[random.pick(['RequestUri', 'requesturi', 'RequestMethod', 'RequestBody', 'RequestHeaders', 'TaskTemplate', 'Image', 'x', '__proto__', 'constructor'])] =
          randomJson(random, depth + 1);
      }
      return object;
    }
  }
}

/** A nesting no recursive walker survives: arrays, objects or both, tens of thousands deep. */
function deeplyNested(random: Random): string {
  const depth = random.chance(0.05) ? 100_000 : random.pick([100, 1_000, 10_000]);
  const open = random.pick(['[', '{"a":', '{"RequestHeaders":']);
  const close = open === '[' ? ']' : '}';
  return `{"RequestMethod":"POST","RequestUri":"/images/create?fromImage=alpine","RequestHeaders":${open.repeat(depth)}1${close.repeat(depth)}}`;
}

function serviceSpecBody(random: Random): string {
  const spec = random.pick([
    () => JSON.stringify({ TaskTemplate: { ContainerSpec: { Image: random.pick(QUERY_VALUES) } } }),
    () => `{"TaskTemplate":${'{"ContainerSpec":'.repeat(random.int(200))}{}${'}'.repeat(0)}`,
    () => JSON.stringify(randomJson(random, 0)),
    () => random.bytes(random.int(200)).toString('latin1'),
  ])();
  if (random.chance(0.002)) return Buffer.from(`{"TaskTemplate":{"ContainerSpec":{"Image":"${'x'.repeat(random.int(2 * MiB))}"}}}`).toString('base64');
  return random.chance(0.1) ? random.text(random.int(100), 'A-_=*!') : Buffer.from(spec).toString('base64');
}

function wellShapedRequest(random: Random): Record<string, unknown> {
  const body: Record<string, unknown> = { RequestMethod: random.pick(METHODS), RequestUri: oddUri(random) };
  if (random.chance(0.5)) body['RequestBody'] = serviceSpecBody(random);
  if (random.chance(0.5)) {
    body['RequestHeaders'] = {
      'Content-Type': random.pick(['application/json', 'application/x-www-form-urlencoded', 'application/x-tar', '', ';;;', 'text/plain; charset=ü']),
      'X-Registry-Auth': Buffer.from(JSON.stringify({ username: 'u', password: 'p' })).toString('base64'),
    };
  }
  if (random.chance(0.2)) body['ResponseStatusCode'] = random.pick([200, 500, -1, 1.5]);
  return body;
}

interface FuzzCase {
  readonly kind: string;
  readonly method: string;
  readonly path: string;
  readonly body: Buffer;
  readonly headers?: Record<string, string>;
  /** The client hangs up after writing this many bytes: there is no reply to check, only survival. */
  readonly abortAfter?: number;
}

function generate(random: Random): FuzzCase {
  const endpoint = random.chance(0.8) ? '/AuthZPlugin.AuthZReq' : random.pick(PROTOCOL_PATHS);
  const call = (kind: string, body: string | Buffer, extra: Partial<FuzzCase> = {}): FuzzCase => ({
    kind,
    method: 'POST',
    path: endpoint,
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    ...extra,
  });
  const roll = random.int(1000);
  if (roll < 350) return call('well-shaped', JSON.stringify(wellShapedRequest(random)));
  if (roll < 500) {
    const body = wellShapedRequest(random);
    for (const key of Object.keys(body)) if (random.chance(0.5)) body[key] = randomJson(random, 0);
    return call('wrong-types', JSON.stringify(body));
  }
  if (roll < 600) return call('random-json', JSON.stringify(randomJson(random, 0)) ?? 'null');
  if (roll < 700) {
    const whole = JSON.stringify(wellShapedRequest(random));
    return call('truncated', whole.slice(0, random.int(whole.length)));
  }
  if (roll < 780) return call('random-bytes', random.bytes(random.int(4096)));
  if (roll < 820) {
    const keys = ['RequestUri', 'requestURI', 'REQUESTURI', 'RequestMethod', '__proto__', 'constructor', 'prototype'];
    const members = Array.from({ length: 6 }, () => `${JSON.stringify(random.pick(keys))}:${JSON.stringify(randomJson(random, 3))}`);
    return call('duplicate-keys', `{${members.join(',')}}`);
  }
  if (roll < 830) return call('deeply-nested', deeplyNested(random));
  if (roll < 831) {
    if (random.chance(0.8)) return call('large', JSON.stringify({ RequestMethod: 'POST', RequestUri: '/services/create', RequestBody: 'A'.repeat(random.int(4 * MiB)) }));
    return call('oversized', Buffer.alloc(8 * MiB + 1 + random.int(MiB), 0x20));
  }
  if (roll < 900) return call('empty-or-blank', random.pick(['', ' ', '\n', 'null', '[]', '""', '0', '\ufeff{}']));
  if (roll < 960) {
    const odd = random.pick<() => FuzzCase>([
      () => ({ kind: 'wrong-method', method: random.pick(['GET', 'PUT', 'DELETE', 'OPTIONS']), path: endpoint, body: Buffer.from('{}') }),
      () => ({ kind: 'unknown-path', method: 'POST', path: random.pick(['/', '/AuthZPlugin.Nope', '/authzplugin.authzreq', '/%zz']), body: Buffer.from('{}') }),
      () => ({ kind: 'query-string', method: 'POST', path: `${endpoint}?x=1`, body: Buffer.from('{"RequestMethod":"POST","RequestUri":"/build"}') }),
      () => ({ kind: 'gzip-garbage', method: 'POST', path: endpoint, body: random.bytes(64), headers: { 'Content-Encoding': 'gzip' } }),
      () => ({ kind: 'odd-content-type', method: 'POST', path: endpoint, body: Buffer.from('{"RequestUri":"/images/load","RequestMethod":"POST"}'), headers: { 'Content-Type': random.pick(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain; charset=utf-16']) } }),
    ]);
    return odd();
  }
  const whole = Buffer.from(JSON.stringify(wellShapedRequest(random)));
  return call('aborted', whole, { abortAfter: random.int(whole.length) });
}

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

function send(socketPath: string, agent: Agent, fuzz: FuzzCase): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, agent, method: fuzz.method, path: fuzz.path, headers: { 'Content-Length': String(fuzz.body.length), ...fuzz.headers }, timeout: HANG_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no reply within ${HANG_MS} ms`)));
    req.on('error', reject);
    req.end(fuzz.body);
  });
}

/** Writes part of a request on a fresh connection and hangs up. */
function sendAndAbort(socketPath: string, fuzz: FuzzCase): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(socketPath, () => {
      socket.write(`POST ${fuzz.path} HTTP/1.1\r\nHost: plugin\r\nContent-Length: ${fuzz.body.length}\r\n\r\n`);
      socket.end(fuzz.body.subarray(0, fuzz.abortAfter), () => socket.destroy());
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

/** What the daemon needs back: a 200 JSON `{Allow: bool, Msg: string}` (or the Activate reply). */
function checkReply(fuzz: FuzzCase, reply: Reply): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(reply.body);
  } catch {
    return `reply is not JSON: ${reply.body.slice(0, 200)}`;
  }
  const protocolCall = fuzz.method === 'POST' && (PROTOCOL_PATHS as readonly string[]).includes(fuzz.path.split('?')[0]!);
  if (!protocolCall) return typeof json === 'object' && json !== null ? undefined : 'reply is not a JSON object';
  if (reply.status !== 200) return `status ${reply.status}`;
  if (fuzz.path.startsWith('/Plugin.Activate')) return JSON.stringify(json) === '{"Implements":["authz"]}' ? undefined : 'bad Activate reply';
  const verdict = json as { Allow?: unknown; Msg?: unknown };
  if (typeof verdict.Allow !== 'boolean' || typeof verdict.Msg !== 'string') return `not a verdict: ${reply.body.slice(0, 200)}`;
  // Enforcement is on the request: the response phase is allowed whatever its body (the image is already there).
  if (fuzz.path.startsWith('/AuthZPlugin.AuthZRes') && verdict.Allow !== true) return `response phase denied: ${reply.body.slice(0, 200)}`;
  // A denial the developer cannot read is a daemon error in all but name.
  if (verdict.Allow === false && verdict.Msg === '') return 'denied without a message';
  return undefined;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

describe(`fuzzing the plugin process: ${TOTAL} requests, seed ${SEED}`, () => {
  let dir: string;
  let plugin: PluginProcess | undefined;

  beforeAll(async () => {
    dir = makeTempDir();
    plugin = await startPlugin(dir, { env: { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_LOG_LEVEL: 'warn', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DOCKER_CONFIG: dir } });
  });

  afterAll(async () => {
    await plugin?.stop();
    removeTempDir(dir);
  });

  test('every call gets a valid reply, the process survives, memory stays bounded', async () => {
    const random = new Random(SEED);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const socket = plugin!.socket;
    const pid = plugin!.process.pid;
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    const latencies: number[] = [];
    const rss: number[] = [];
    let next = 0;
    const started = Date.now();

    const worker = async () => {
      while (next < TOTAL && failures.length < 20) {
        const index = next++;
        const fuzz = generate(random);
        kinds.set(fuzz.kind, (kinds.get(fuzz.kind) ?? 0) + 1);
        if (index % 10_000 === 0) rss.push(rssMiB(pid));
        if (fuzz.abortAfter !== undefined) {
          await sendAndAbort(socket, fuzz);
          continue;
        }
        try {
          const reply = await send(socket, agent, fuzz);
          latencies.push(reply.ms);
          const problem = checkReply(fuzz, reply);
          if (problem) failures.push(`case #${index} (${fuzz.kind} ${fuzz.method} ${fuzz.path}): ${problem}`);
        } catch (error) {
          failures.push(`case #${index} (${fuzz.kind} ${fuzz.method} ${fuzz.path}): ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    agent.destroy();
    rss.push(rssMiB(pid));
    const seconds = (Date.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const percentile = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
    process.stdout.write(
      `fuzz: ${TOTAL} cases in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s), latency p50 ${percentile(0.5)} ms ` +
        `p99 ${percentile(0.99)} ms max ${latencies[latencies.length - 1]} ms, RSS MiB ${rss.map((v) => v.toFixed(0)).join(' ')}\n` +
        `cases: ${JSON.stringify(Object.fromEntries(kinds))}\n`,
    );

    expect(failures).toEqual([]);
    expect(plugin!.process.isRunning()).toBe(true);
    const log = plugin!.logText();
    expect(log).not.toMatch(/uncaught exception|unhandled rejection/);
    // Bounded: after the first 10k cases the heap has its working size; the rest must not keep adding to it.
    const warm = rss[1] ?? rss[0]!;
    expect(Math.max(...rss.slice(1))).toBeLessThan(warm + 150);
    expect(Math.max(...rss)).toBeLessThan(600);

    // Still judging correctly afterwards.
    const pull = (image: string) =>
      send(socket, new Agent(), {
        kind: 'after',
        method: 'POST',
        path: '/AuthZPlugin.AuthZReq',
        body: Buffer.from(JSON.stringify({ RequestMethod: 'POST', RequestUri: `/v1.41/images/create?fromImage=${encodeURIComponent(image)}` })),
      });
    expect(JSON.parse((await pull('alpine')).body)).toEqual({ Allow: true, Msg: '' });
    expect(JSON.parse((await pull('someone/evil')).body)).toMatchObject({ Allow: false });
  });
});
