import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE, httpRequest, rawHttpRequest, startEngine, type Engine } from '../harness';

/**
 * Requests at the size limits of the engine in use (issue 11): the largest a client can send through dockerd gets a
 * verdict, not a plugin failure, and requests sent straight to the plugin's socket get an AuthZ reply.
 */
jest.setTimeout(300_000);

const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DAEMON_JSON: '' };

describe(`oversized and direct requests, dockerd ${ENGINE}`, () => {
  let engine: Engine | undefined;

  beforeAll(async () => {
    engine = await startEngine({ plugin: { env: ENV } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it('a 3.9 MB containers/create with a 1 MB header of "<" (11 MB once escaped for the plugin) is answered by the engine', async () => {
    const body = JSON.stringify({ Image: 'no-such-image-here', Labels: { big: 'x'.repeat(3_900_000) } });
    const head = `POST /containers/create HTTP/1.1\nHost: docker\nContent-Type: application/json\nContent-Length: ${body.length}\nX-Big: ${'<'.repeat(1_000_000)}\n`;
    const reply = await rawHttpRequest(engine!.daemon.socket, head, body, 120_000);
    expect(reply.text).not.toContain('authorization denied');
    expect(reply.text).not.toContain('failed with error');
    // The engine's own answer: the image is not there.
    expect(reply.status).toBe(404);
    expect(reply.text).toContain('no-such-image-here');
  });

  it('a 0.9 MB invalid reference is cut short in the denial, the log line and the audit line, with a marker', async () => {
    const audit = join(engine!.dir, 'audit.log');
    await engine!.plugin!.restart({ env: { ...ENV, IMAGE_ACCESS_AUDIT_LOG: audit } });
    const reference = `someone/app:${'x'.repeat(900_000)}`;
    const reply = await httpRequest(
      { socketPath: engine!.daemon.socket, path: `/v1.41/images/create?fromImage=${encodeURIComponent(reference)}` },
      { method: 'POST', timeoutMs: 60_000 },
    );
    expect(reply.status).toBe(403);
    expect(reply.body).toContain('...[cut: ');
    expect(reply.body.length).toBeLessThan(2_000);
    const decision = engine!.plugin!.logText().split('\n').filter((line) => line.includes('"image decision"'));
    expect(decision.length).toBeGreaterThan(0);
    for (const line of decision) expect(line.length).toBeLessThan(3_000);
    const auditLines = readFileSync(audit, 'utf8').trim().split('\n');
    expect(auditLines.at(-1)).toContain('...[cut: ');
    for (const line of auditLines) expect(line.length).toBeLessThan(3_000);
  });

  it.each([
    ['GET /AuthZPlugin.AuthZReq', 'GET /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\n', '', 'a plugin call is a POST, not GET'],
    ['headers too large', `POST /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\nX-Big: ${'a'.repeat(20_000)}\nContent-Length: 2\n`, '{}', 'request headers too large'],
    ['a broken chunked body', 'POST /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n', 'zz\r\n{}\r\n0\r\n\r\n', 'malformed HTTP request'],
  ])('straight to the plugin socket, %s: a 200 denial saying why', async (_name, head, body, why) => {
    const reply = await rawHttpRequest(engine!.plugin!.socket, head, body, 10_000);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4))).toEqual({ Allow: false, Msg: expect.stringContaining(why) });
  });
});
