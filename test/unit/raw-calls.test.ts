import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { parseCall, RAW_BODY_MAX, RAW_HEAD_MAX } from '../../src/protocol/raw-calls';
import { createPluginServer, type AuthZHandler } from '../../src/protocol/server';
import { closeServer, listenOnUnixSocket } from '../../src/protocol/socket';
import { dockerdCall } from '../../bench/plugin-wire';

/**
 * dockerd's calls are answered on the socket by a small HTTP/1.1 path; anything else goes to node:http with the bytes
 * read so far. Each connection must get exactly the replies a plugin serving everything with node:http gives.
 */

const PING = '{"RequestMethod":"HEAD","RequestUri":"/_ping","RequestHeaders":{"User-Agent":"Docker-Client/28.2.2 (linux)"}}';

describe('what the raw path takes as a dockerd call', () => {
  test.each([
    ['dockerd 20.10', dockerdCall('/AuthZPlugin.AuthZReq', PING)],
    ['dockerd 26.1', dockerdCall('/AuthZPlugin.AuthZReq', PING, 'plugin.moby.localhost')],
    ['Activate', dockerdCall('/Plugin.Activate', '')],
    ['AuthZRes', dockerdCall('/AuthZPlugin.AuthZRes', PING)],
    ['header names in any case, Node keep-alive', `POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nhOST: x\r\nCONTENT-length:  2 \r\nConnection: Keep-Alive\r\n\r\n{}`],
  ])('%s', (_name, text) => {
    const call = parseCall(Buffer.from(text));
    expect(call).toEqual({ path: text.split(' ')[1], body: Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4)) });
  });

  test("a large AuthZRes is taken once its head is read, with the count of its body's bytes still to come", () => {
    const body = 'x'.repeat(RAW_BODY_MAX + 100);
    const text = Buffer.from(dockerdCall('/AuthZPlugin.AuthZRes', body));
    const head = text.length - body.length;
    expect(parseCall(text.subarray(0, head - 1))).toBe('partial');
    expect(parseCall(text.subarray(0, head))).toEqual({ path: '/AuthZPlugin.AuthZRes', unread: body.length });
    expect(parseCall(text.subarray(0, head + 4096))).toEqual({ path: '/AuthZPlugin.AuthZRes', unread: body.length - 4096 });
    expect(parseCall(text)).toEqual({ path: '/AuthZPlugin.AuthZRes', unread: 0 });
    expect(parseCall(Buffer.concat([text, Buffer.from('x')]))).toBe('other');
    // The request phase needs its body: a large one is node:http's (body budget, workers).
    expect(parseCall(Buffer.from(dockerdCall('/AuthZPlugin.AuthZReq', body)))).toBe('other');
  });

  test('a call not yet whole is partial, at every byte', () => {
    const text = Buffer.from(dockerdCall('/AuthZPlugin.AuthZReq', PING));
    for (let cut = 0; cut < text.length; cut++) expect(parseCall(text.subarray(0, cut))).toBe('partial');
  });

  const call = (headers: string, body = '{}') => `POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
  test.each([
    ['another path', dockerdCall('/VolumeDriver.Create', '{}')],
    ['a query string', dockerdCall('/AuthZPlugin.AuthZReq?x=1', '{}')],
    ['another method', dockerdCall('/AuthZPlugin.AuthZReq', '{}').replace('POST', 'PUT')],
    ['a lowercase method', dockerdCall('/AuthZPlugin.AuthZReq', '{}').replace('POST', 'post')],
    ['HTTP/1.0', dockerdCall('/AuthZPlugin.AuthZReq', '{}').replace('HTTP/1.1', 'HTTP/1.0')],
    ['bare LF line ends', dockerdCall('/AuthZPlugin.AuthZReq', '{}').replace(/\r\n/g, '\n') + '\n\n'],
    ['no Content-Length', call('')],
    ['a repeated Content-Length', call('Content-Length: 2\r\nContent-Length: 2\r\n')],
    ['a signed Content-Length', call('Content-Length: +2\r\n')],
    ['a list as Content-Length', call('Content-Length: 2, 2\r\n')],
    ['a hex Content-Length', call('Content-Length: 0x2\r\n')],
    ['chunked', call('Transfer-Encoding: chunked\r\n', '2\r\n{}\r\n0\r\n\r\n')],
    ['an encoded body', call('Content-Length: 2\r\nContent-Encoding: gzip\r\n')],
    ['Expect', call('Content-Length: 2\r\nExpect: 100-continue\r\n')],
    ['Upgrade', call('Content-Length: 2\r\nUpgrade: h2c\r\n')],
    ['Connection: close', call('Content-Length: 2\r\nConnection: close\r\n')],
    ['no Host', 'POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}'],
    ['two Hosts', call('Host: y\r\nContent-Length: 2\r\n')],
    ['a folded header', call('Content-Length: 2\r\nX-A: b\r\n c\r\n')],
    ['a space before the colon', call('Content-Length : 2\r\n')],
    ['a NUL in a value', call('Content-Length: 2\r\nX-A: \0\r\n')],
    ['a byte past ASCII in a value', call('Content-Length: 2\r\nX-A: \x80\r\n')],
    ['a head past the bound', call(`Content-Length: 2\r\nX-A: ${'a'.repeat(RAW_HEAD_MAX)}\r\n`)],
    ['a body past the bound', call(`Content-Length: ${RAW_BODY_MAX + 1}\r\n`, 'a'.repeat(RAW_BODY_MAX + 1))],
    ['a second request behind the first', dockerdCall('/AuthZPlugin.AuthZReq', PING) + dockerdCall('/AuthZPlugin.AuthZRes', PING)],
    ['bytes behind the body', dockerdCall('/AuthZPlugin.AuthZReq', PING) + '\r\n'],
    ['a head as dockerd writes it, then Connection: close', dockerdCall('/AuthZPlugin.AuthZReq', PING).replace('json\r\n\r\n', 'json\r\nConnection: close\r\n\r\n')],
    ['a head as dockerd writes it with a ten-digit Content-Length', dockerdCall('/AuthZPlugin.AuthZReq', PING).replace(/Content-Length: \d+/, 'Content-Length: 1234567890')],
    ['garbage', 'GARBAGE'],
    ['a TLS hello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  ])('%s is left to node:http', (_name, text) => {
    expect(parseCall(Buffer.from(text, 'latin1'))).toBe('other');
  });
});

/** Every reply on a connection that sends `pieces` one after another (each after the reply before), then half-closes. */
function exchange(socketPath: string, pieces: readonly Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = '';
    let sent = 0;
    const replies = () => received.split(/(?=HTTP\/1\.1 \d{3} )/).filter((reply) => /\r\n\r\n/.test(reply)).length;
    const sendNext = () => {
      const piece = pieces[sent++]!;
      if (sent === pieces.length) socket.end(piece);
      else socket.write(piece);
    };
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`no end within 10 s; got ${JSON.stringify(received)}`))), 10_000);
    socket.on('connect', sendNext);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      // The next piece only once the one before is answered whole, as dockerd sends its calls.
      if (sent < pieces.length && replies() >= sent && wholeReplies(received)) sendNext();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(normalize(received));
    });
  });
}

/** What a connection receives until it closes, while `talk` writes on it (`text`: what it received so far). */
function received(path: string, talk: (socket: Socket, text: () => string) => void): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    talk(socket, () => text);
  });
}

/** Whether every reply in `text` has its whole body. */
function wholeReplies(text: string): boolean {
  for (const reply of text.split(/(?=HTTP\/1\.1 \d{3} )/)) {
    const headEnd = reply.indexOf('\r\n\r\n');
    if (headEnd < 0) return false;
    const length = /\r\ncontent-length: (\d+)/i.exec(reply.slice(0, headEnd))?.[1];
    if (length !== undefined && reply.length - headEnd - 4 < Number(length)) return false;
  }
  return true;
}

/** Node's Date header left out: it is the only thing the raw path leaves out of a reply. */
const normalize = (text: string) => text.replace(/\r\nDate: [^\r]*/g, '');

function rng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('every connection gets the replies node:http alone gives', () => {
  let dir: string;
  const servers: Record<'raw' | 'http', { server: Server; socket: string }> = {} as never;
  const handler: AuthZHandler = {
    authorizeRequest: (request) => {
      const reply = { Allow: request.requestUri.includes('ok'), Msg: `seen ${request.requestUri}` };
      if (request.requestUri.includes('slow')) return new Promise((resolve) => setTimeout(() => resolve(reply), 100));
      return request.requestUri.includes('later') ? Promise.resolve(reply) : reply;
    },
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-raw-'));
    for (const kind of ['raw', 'http'] as const) {
      const server = createPluginServer(handler, silentLogger(), { headersMs: 1_000, requestMs: 1_500, checkEveryMs: 200 }, kind === 'raw');
      const socket = join(dir, `${kind}.sock`);
      await listenOnUnixSocket(server, socket);
      servers[kind] = { server, socket };
    }
  });

  afterAll(async () => {
    for (const { server } of Object.values(servers)) await closeServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  async function bothReplies(pieces: readonly Buffer[]): Promise<{ raw: string; http: string }> {
    const [raw, http] = await Promise.all([exchange(servers.raw.socket, pieces), exchange(servers.http.socket, pieces)]);
    return { raw, http };
  }

  const first = Buffer.from(dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestMethod":"GET","RequestUri":"/ok/first"}'));
  const odd: Array<[string, string]> = [
    ['a dockerd call', dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestMethod":"GET","RequestUri":"/ok/later"}')],
    ['another method', 'GET /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['an unknown path', dockerdCall('/VolumeDriver.Create', '{}')],
    ['a query string', dockerdCall('/AuthZPlugin.AuthZReq?x=1', '{"RequestUri":"/ok"}')],
    ['chunked', 'POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
    ['a broken chunked body', 'POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ['a repeated Content-Length', 'POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
    ['headers too large', `POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`],
    ['a body cut off', dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok"}').slice(0, -5)],
    ['a head cut off', dockerdCall('/AuthZPlugin.AuthZReq', '{}').slice(0, 40)],
    ['an empty AuthZReq', dockerdCall('/AuthZPlugin.AuthZReq', '')],
    ['a malformed body', dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":')],
    ['garbage', 'GARBAGE\r\n\r\n'],
    ['two calls at once', dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok/a"}') + dockerdCall('/AuthZPlugin.AuthZRes', '{}')],
  ];
  test.each(odd)('%s, first on a connection', async (_name, text) => {
    const { raw, http } = await bothReplies([Buffer.from(text, 'latin1')]);
    expect(raw).toBe(http);
    expect(raw).toMatch(/^HTTP\/1\.1 \d{3} /);
  });
  test.each(odd)('%s, after a call on a kept-alive connection', async (_name, text) => {
    const { raw, http } = await bothReplies([first, Buffer.from(text, 'latin1')]);
    expect(raw).toBe(http);
    expect(raw).toContain('"Msg":"seen /ok/first"');
  });

  test('a call sent in pieces is answered whole; one that stalls gets node:http\'s timeout reply', async () => {
    const call = dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok/pieces"}');
    const pieces = [call.slice(0, 10), call.slice(10, 100), call.slice(100)];
    const replies = await Promise.all(
      [servers.raw.socket, servers.http.socket].map((path) =>
        received(path, (socket, text) => {
          socket.on('data', () => {
            // Then a call that stops mid-body: answered once node:http's request timeout passes.
            if (text().includes('/ok/pieces')) socket.write(call.slice(0, -3));
          });
          void (async () => {
            for (const piece of pieces) {
              socket.write(piece);
              await new Promise((done) => setTimeout(done, 20));
            }
          })();
        }).then(normalize),
      ),
    );
    expect(replies[0]).toBe(replies[1]);
    expect(replies[0]).toContain('request not received in full in time');
  });

  /**
   * Not requests sent ahead of their replies and then garbage: node:http itself answers those differently whether it
   * reads the socket's handle (it then answers each request before parsing the next) or is given the bytes at once, as
   * after a hand-off (it meets the garbage first, and its error reply takes the place of the replies pending). dockerd
   * never sends a call before the reply to the one before.
   */
  test('a call sent while the one before is being answered is answered after it, in order', async () => {
    const slow = dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok/slow"}');
    const next = dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok/next"}');
    const replies = await Promise.all(
      [servers.raw.socket, servers.http.socket].map((path) =>
        received(path, (socket, text) => {
          socket.on('data', () => text().includes('/ok/next') && socket.end());
          socket.write(slow);
          setTimeout(() => socket.write(next), 30);
        }).then(normalize),
      ),
    );
    expect(replies[0]).toBe(replies[1]);
    expect(replies[0]!.indexOf('seen /ok/slow')).toBeLessThan(replies[0]!.indexOf('seen /ok/next'));
    expect(replies[0]!.indexOf('seen /ok/slow')).toBeGreaterThan(0);
  });

  describe("a large AuthZRes (the API's reply, never looked at) is dropped as it arrives", () => {
    const large = Buffer.from(dockerdCall('/AuthZPlugin.AuthZRes', JSON.stringify({ ResponseBody: 'x'.repeat(300 * 1024) })));
    const pieces = (text: Buffer) => Array.from({ length: Math.ceil(text.length / 4096) }, (_, i) => text.subarray(i * 4096, (i + 1) * 4096));

    test('in 4 KiB pieces, as dockerd 26.1 sends it: allowed, and the next call is answered on the raw path still', async () => {
      const next = Buffer.from(dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestUri":"/ok/next"}'));
      const [raw, http] = await Promise.all(
        [servers.raw.socket, servers.http.socket].map((path) =>
          received(path, (socket) => {
            // Each call once the one before is answered, as dockerd sends them.
            socket.write(first);
            socket.once('data', () => {
              for (const piece of pieces(large)) socket.write(piece);
              socket.once('data', () => socket.end(next));
            });
          }),
        ),
      );
      expect(normalize(raw!)).toBe(normalize(http!));
      expect(raw!.match(/\{"Allow":true,"Msg":""\}/g)).toHaveLength(1);
      expect(raw).toContain('seen /ok/next');
      // node:http dates its replies; the raw path does not: no connection was handed over.
      expect(http).toContain('\r\nDate: ');
      expect(raw).not.toContain('\r\nDate: ');
    });

    test.each([
      ['cut off (the sender ends mid-body)', (socket: Socket) => socket.end(large.subarray(0, -10))],
      ['stalled mid-body', (socket: Socket) => socket.write(large.subarray(0, -10))],
    ])('%s: the reply node:http gives, and the connection ends', async (_name, send) => {
      const [raw, http] = await Promise.all([servers.raw.socket, servers.http.socket].map((path) => received(path, send)));
      expect(normalize(raw!)).toBe(normalize(http!));
      expect(raw).toMatch(/Connection: close\r\n\r\n\{"Allow":true,"Msg":""\}$/);
    });
  });

  test('a connection that sends nothing gets node:http\'s timeout reply, as before', async () => {
    const silent = (path: string) => received(path, () => undefined).then(normalize);
    const [raw, http] = await Promise.all([silent(servers.raw.socket), silent(servers.http.socket)]);
    expect(raw).toBe(http);
    expect(raw).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('seeded random and mutated requests: the same replies, and the plugin never crashes', async () => {
    const random = rng(15);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const bases = [
      dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestMethod":"GET","RequestUri":"/ok/ps"}'),
      dockerdCall('/AuthZPlugin.AuthZReq', '{"RequestMethod":"POST","RequestUri":"/images/create?fromImage=x"}', 'plugin.moby.localhost'),
      dockerdCall('/AuthZPlugin.AuthZRes', PING),
      dockerdCall('/Plugin.Activate', ''),
    ];
    const noise = ['\r', '\n', '\r\n', ' ', '\t', ':', '\0', '\x7f', '\x80', '\xff', 'a', '0', '9', ',', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'Host: y\r\n'];
    const mutate = (text: string): string => {
      const at = Math.floor(random() * (text.length + 1));
      switch (Math.floor(random() * 6)) {
        case 0:
          return text.slice(0, at) + pick(noise) + text.slice(at + 1);
        case 1:
          return text.slice(0, at) + pick(noise) + text.slice(at);
        case 2:
          return text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 8));
        case 3:
          return text.slice(0, at);
        case 4:
          return text.replace(/Content-Length: \d+/, `Content-Length: ${pick(['', '-1', '1e2', ' 7 ', '99999999999', '0x10', '5,5', '0', '3', '1000'])}`);
        default:
          return text.replace(/^[^\r]*\r\n/, (line) => (random() < 0.5 ? line.toLowerCase() : line.replace(' HTTP/1.1', pick([' HTTP/1.0', ' HTTP/2', '  HTTP/1.1', ' http/1.1']))));
      }
    };
    const cases: Buffer[][] = [];
    for (let i = 0; i < 300; i++) {
      let text = pick(bases);
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) text = mutate(text);
      const mutated = Buffer.from(text, 'latin1');
      cases.push(random() < 0.5 ? [mutated] : [first, mutated]);
    }
    const differences: string[] = [];
    for (let i = 0; i < cases.length; i += 10) {
      const results = await Promise.all(cases.slice(i, i + 10).map((pieces) => bothReplies(pieces)));
      results.forEach(({ raw, http }, n) => {
        if (raw !== http) differences.push(`${JSON.stringify(cases[i + n]!.map(String))}\n raw:  ${JSON.stringify(raw)}\n http: ${JSON.stringify(http)}`);
      });
    }
    expect(differences).toEqual([]);
    // Both still serve.
    expect(await bothReplies([first])).toEqual({ raw: expect.stringContaining('seen /ok/first'), http: expect.stringContaining('seen /ok/first') });
  }, 60_000);
});
