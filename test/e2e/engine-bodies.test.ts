import { chunkedBody, ENGINE, rawHttpRequest, startEngine, type Engine, type RawReply } from '../harness';

/**
 * Which request bodies each engine forwards to the plugin, and that every request is answered safely either way,
 * shown with service specs (the one judged route whose image is only in the body). Measured here:
 * - dockerd 20.10 forwards a JSON body up to 1 MiB; over that it forwards it empty;
 * - dockerd 26.1 forwards one up to 4 MiB; over that it refuses the request itself (500, "request body too large
 *   for authorization plugin") without calling the plugin;
 * - both forward a chunked JSON body (no Content-Length: the CVE-2024-41110 fix, in Debian's 20.10.24 too).
 * A body the plugin did not get is refused; one it did get is judged by the image it names.
 * Policy: the embedded one, organization "acme": someone/app is a community image, alpine an official one.
 */
jest.setTimeout(300_000);

const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off' };
const MiB = 1024 * 1024;
const NOT_FORWARDED = 'the service specification was not forwarded for checking';
const COMMUNITY = 'docker.io/someone/app:1.0 is a community image';
/** What dockerd answers a service request the plugin let through: this engine is no swarm manager. */
const NO_SWARM = 'This node is not a swarm manager';

/** A service spec of about `bytes` bytes (padding in a label) naming `image`. */
function serviceSpec(image: string, bytes: number): string {
  const spec = (padding: string) => JSON.stringify({ Name: 'svc', Labels: { padding }, TaskTemplate: { ContainerSpec: { Image: image } } });
  return spec('x'.repeat(Math.max(0, bytes - spec('').length)));
}

describe(`request bodies dockerd ${ENGINE} forwards to the plugin`, () => {
  let engine: Engine | undefined;
  /** `POST /services/create` with a JSON spec, sent with a Content-Length or chunked. */
  const send = (image: string, bytes: number, framing: 'length' | 'chunked' = 'length') => {
    const spec = serviceSpec(image, bytes);
    const head = 'POST /v1.41/services/create HTTP/1.1\nHost: docker\nContent-Type: application/json\nExpect: 100-continue\n';
    return framing === 'length'
      ? rawHttpRequest(engine!.daemon.socket, `${head}Content-Length: ${Buffer.byteLength(spec)}\n`, spec)
      : rawHttpRequest(engine!.daemon.socket, `${head}Transfer-Encoding: chunked\n`, chunkedBody(spec));
  };
  const expectDenied = (reply: RawReply, reason: string) => {
    expect(reply.status).toBe(403);
    expect(reply.text).toContain(`authorization denied by plugin ${engine!.plugin!.name}`);
    expect(reply.text).toContain(reason);
  };
  /** Let through by the plugin: dockerd itself answers. */
  const expectAllowed = (reply: RawReply) => {
    expect(reply.text).not.toContain('authorization denied');
    expect(reply.text).toContain(NO_SWARM);
  };

  beforeAll(async () => {
    engine = await startEngine({ plugin: { env: ENV } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it('a spec under 1 MiB is forwarded by every engine and judged by its image', async () => {
    expectDenied(await send('someone/app:1.0', MiB - 4096), COMMUNITY);
    expectAllowed(await send('alpine', MiB - 4096));
  });

  it('a 2 MiB spec: 20.10 forwards it empty and the plugin refuses it; 26.1 forwards it and it is judged', async () => {
    if (ENGINE === '20.10') {
      expectDenied(await send('someone/app:1.0', 2 * MiB), NOT_FORWARDED);
      expectDenied(await send('alpine', 2 * MiB), NOT_FORWARDED);
    } else {
      expectDenied(await send('someone/app:1.0', 2 * MiB), COMMUNITY);
      expectAllowed(await send('alpine', 2 * MiB));
    }
  });

  it('a spec over 4 MiB: 20.10 forwards it empty and the plugin refuses it; 26.1 refuses it before the plugin', async () => {
    const reply = await send('alpine', 4 * MiB + 4096);
    if (ENGINE === '20.10') {
      expectDenied(reply, NOT_FORWARDED);
    } else {
      expect(reply.status).toBe(500);
      expect(reply.text).toContain('request body too large for authorization plugin');
    }
  });

  it('a large API reply goes through the response phase, and the calls after it are judged as before', async () => {
    // A network whose labels make its inspect reply ~100 KiB: dockerd forwards that reply, base64, to AuthZRes.
    const spec = JSON.stringify({ Name: 'big-reply', Labels: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`label${i}`, 'x'.repeat(1024)])) });
    const head = 'POST /v1.41/networks/create HTTP/1.1\nHost: docker\nContent-Type: application/json\n';
    const created = await rawHttpRequest(engine!.daemon.socket, `${head}Content-Length: ${Buffer.byteLength(spec)}\n`, spec);
    try {
      expect({ status: created.status, text: created.text.slice(-300) }).toMatchObject({ status: 201 });
      const inspected = await rawHttpRequest(engine!.daemon.socket, 'GET /v1.41/networks/big-reply HTTP/1.1\nHost: docker\n');
      expect(inspected.status).toBe(200);
      expect(inspected.text.length).toBeGreaterThan(100 * 1024);
      expectDenied(await send('someone/app:1.0', 4096), COMMUNITY);
      expectAllowed(await send('alpine', 4096));
      expect(engine!.plugin!.logText()).not.toContain('unreadable plugin request');
    } finally {
      // A network's bridge outlives the dockerd that made it: left there, each run would hold one of the default
      // address pools (about 30) until the host ran out ("could not find an available, non-overlapping IPv4 address pool").
      await rawHttpRequest(engine!.daemon.socket, 'DELETE /v1.41/networks/big-reply HTTP/1.1\nHost: docker\n');
    }
  });

  it('a chunked spec (no Content-Length) is forwarded by every engine and judged by its image', async () => {
    expectDenied(await send('someone/app:1.0', 4096, 'chunked'), COMMUNITY);
    expectAllowed(await send('alpine', 4096, 'chunked'));
  });
});
