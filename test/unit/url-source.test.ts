import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isUnavailable } from '../../src/policy/source';
import { UrlPolicySource, type UrlSourceOptions } from '../../src/policy/url-source';
import { captureLog, type CapturedLog } from '../hub/log-capture';
import { afterRefresh, view } from '../policy-refresh';

const TTL = 60_000;
const QUERY_TOKEN = 'company-policy-token-XYZ';

/** A company policy endpoint: serves `document` with an ETag, answers 304 to a matching If-None-Match. */
interface PolicyServer {
  url: string;
  document: string;
  etag: string | undefined;
  status: number;
  requests: Array<string | undefined>;
  close(): Promise<void>;
}

async function startPolicyServer(document: string): Promise<PolicyServer> {
  const state: Omit<PolicyServer, 'url' | 'close'> = { document, etag: '"v1"', status: 200, requests: [] };
  const server: Server = createServer((req, res) => {
    const ifNoneMatch = req.headers['if-none-match'];
    state.requests.push(ifNoneMatch);
    if (state.status !== 200) {
      res.writeHead(state.status).end('{"error":"down"}');
    } else if (state.etag !== undefined && ifNoneMatch === state.etag) {
      res.writeHead(304, { ETag: state.etag }).end();
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json', ...(state.etag ? { ETag: state.etag } : {}) }).end(state.document);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/policies/acme.json?token=${QUERY_TOKEN}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

const doc = (enabled: boolean, organization = 'acme') =>
  JSON.stringify({ organization, restricted_images: { enabled, allow_official_images: true, allow_verified_publishers: true }, owners: ['olivia'], badges: { bitnami: 'verified_publisher' } });

let server: PolicyServer;
let log: CapturedLog;
let now: number;

beforeEach(async () => {
  server = await startPolicyServer(doc(true));
  log = captureLog();
  now = 1_000_000;
});

afterEach(async () => {
  await server.close();
});

const source = (overrides: Partial<UrlSourceOptions> = {}) =>
  new UrlPolicySource({
    url: server.url,
    ttlMs: TTL,
    staleMaxMs: 3_600_000,
    decisionTimeoutMs: 2_000,
    logger: log.logger,
    clock: () => now,
    random: () => 0,
    ...overrides,
  });

describe('UrlPolicySource', () => {
  it('serves the policy document from the URL, with its badge catalogue, naming the URL without its query', async () => {
    const s = source();
    const policy = view(await s.policyFor());
    expect(policy.policy).toMatchObject({ organization: 'acme', owners: ['olivia'], restrictedImages: { enabled: true } });
    expect(policy.source).toBe(s.describe);
    expect(s.describe).not.toContain(QUERY_TOKEN);
    expect(await s.badgeOf('bitnami', policy)).toBe('verified_publisher');
  });

  it('warms up at a random moment within the spread, and not at all once closed', async () => {
    const early = source({ random: () => 0.1 });
    const late = source({ random: () => 0.9 });
    early.warmSoon(200);
    late.warmSoon(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    late.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.requests).toStrictEqual([undefined]);
  });

  it('revalidates with If-None-Match after the TTL; a 304 keeps the policy and renews it', async () => {
    const s = source();
    await s.warm();
    now += TTL / 2;
    await s.policyFor();
    expect(server.requests).toStrictEqual([undefined]);
    now += TTL;
    const renewed = await afterRefresh(() => s.policyFor());
    expect(server.requests).toStrictEqual([undefined, '"v1"']);
    expect(renewed.fetchedAt).toBe(now);
    expect(renewed.stale).toBeUndefined();
    // The 304 keeps the ETag too: the policy keeps its version, and the next revalidation sends it again.
    expect(renewed.version).toBe('"v1"');
    now += TTL + 1;
    expect((await afterRefresh(() => s.policyFor())).version).toBe('"v1"');
    expect(server.requests).toStrictEqual([undefined, '"v1"', '"v1"']);
  });

  it('takes a changed document', async () => {
    const s = source();
    await s.warm();
    server.document = doc(false);
    server.etag = '"v2"';
    now += TTL + 1;
    expect((await afterRefresh(() => s.policyFor())).policy.restrictedImages.enabled).toBe(false);
  });

  it('keeps the last good policy when the endpoint fails or serves a bad document, and says so', async () => {
    const s = source();
    await s.warm();
    server.status = 503;
    now += TTL + 1;
    expect((await afterRefresh(() => s.policyFor())).stale).toMatch(/HTTP 503/);
    server.status = 200;
    server.etag = '"v3"';
    server.document = '{"organization": "acme", "restricted_images": {"enabled": "maybe"}}';
    now += 10_000;
    const kept = await afterRefresh(() => s.policyFor());
    expect(kept.stale).toMatch(/invalid policy document: restricted_images.enabled/);
    expect(kept.policy.restrictedImages.enabled).toBe(true);
    // A typo is refused the same way: the last good policy stays in force.
    server.document = '{"organization": "acme", "restricted_images": {"enabled": false, "allow_oficial_images": false}}';
    now += 10_000;
    const typo = await afterRefresh(() => s.policyFor());
    expect(typo.stale).toMatch(/unknown key "allow_oficial_images" in restricted_images \(did you mean "allow_official_images"\?\)/);
    expect(typo.policy.restrictedImages.enabled).toBe(true);
    expect(log.find('warn', 'refresh failed; using the last good value')).toHaveLength(3);
    expect(log.text()).not.toContain(QUERY_TOKEN);
  });

  it('holds back the policy URL after failures in a row, longer than the retry of one failure, one log line per hold', async () => {
    server.status = 503;
    const s = source();
    for (let attempt = 0; attempt < 4; attempt++) {
      await s.warm();
      now += 5_000;
    }
    // Failures 1-3 came 5 s apart (the retry after one failure); the third started a hold, the fourth doubled it.
    expect(server.requests).toHaveLength(4);
    await s.warm();
    expect(server.requests).toHaveLength(4);
    expect(log.find('warn', `the policy URL ${server.url.split('?')[0]} held back: no call to it until the hold ends`)).toHaveLength(2);
    expect(log.text()).not.toContain(QUERY_TOKEN);
  });

  it('follows no redirect: a 302 is a failure, and its target is never asked', async () => {
    const elsewhere = await startPolicyServer(doc(true));
    const redirecting = createServer((_req, res) => res.writeHead(302, { Location: elsewhere.url }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = redirecting.address() as AddressInfo;
      const result = await source({ url: `http://127.0.0.1:${port}/policies/acme.json` }).policyFor();
      expect(isUnavailable(result) && result.unavailable).toMatch(/HTTP 302/);
      expect(elsewhere.requests).toStrictEqual([]);
    } finally {
      await new Promise<void>((resolve) => redirecting.close(() => resolve()));
      await elsewhere.close();
    }
  });

  it('ignores HTTP_PROXY: the policy is fetched directly', async () => {
    const proxy = await startPolicyServer(doc(true, 'globex'));
    const saved = { ...process.env };
    Object.assign(process.env, { HTTP_PROXY: proxy.url, http_proxy: proxy.url, HTTPS_PROXY: proxy.url, https_proxy: proxy.url });
    delete process.env['NO_PROXY'];
    delete process.env['no_proxy'];
    try {
      expect(view(await source().policyFor()).policy.organization).toBe('acme');
      expect(proxy.requests).toStrictEqual([]);
      expect(server.requests).toStrictEqual([undefined]);
    } finally {
      for (const key of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
      await proxy.close();
    }
  });

  it('has no policy when the endpoint is down from the start', async () => {
    await server.close();
    const result = await source().policyFor();
    expect(isUnavailable(result) && result.unavailable).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/policies\/acme\.json: /);
  });
});
