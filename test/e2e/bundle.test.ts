import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { freePort, httpRequest, makeTempDir, removeTempDir, REPO_ROOT, startPlugin, type PluginProcess } from '../harness';

/**
 * What ships is bundle/ (scripts/bundle.js): the packages a feature needs only when it is on are files of their own,
 * read the first time the code requires them. A plugin serving dockerd's calls loads bundle/cli.js, which compiles
 * bundle/app.js with its code cache, and no other module; each feature's file loads, and works, once the feature is
 * used. (NODE_DEBUG=module makes node log each file it loads as a module.)
 */
jest.setTimeout(60_000);

const bundleFilesRead = (plugin: PluginProcess) => [
  ...new Set([...plugin.logText().matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map((match) => relative(REPO_ROOT, match[1]!))),
];
const call = (plugin: PluginProcess, path: string, body: unknown, method = 'POST') =>
  httpRequest({ socketPath: plugin.socket, path }, { method, body: body === undefined ? undefined : JSON.stringify(body) });
const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

describe('the bundle: lazily required packages stay unread until used', () => {
  let dir: string;
  let plugin: PluginProcess | undefined;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(async () => {
    await plugin?.stop();
    plugin = undefined;
    removeTempDir(dir);
  });

  test("dockerd's calls are served from bundle/cli.js alone; express, then the body worker, load when first needed", async () => {
    plugin = await startPlugin(dir, { env: { NODE_DEBUG: 'module', IMAGE_ACCESS_POLICY: 'builtin' } });
    // Started with config.json's node flags from the bundle built for this node: V8 takes the code cache.
    expect(plugin.logLines().find((line) => line['message'] === 'image-access listening')).toMatchObject({ codeCache: 'used' });
    expect((await call(plugin, '/Plugin.Activate', undefined)).body).toBe('{"Implements":["authz"]}');
    const pull = await call(plugin, '/AuthZPlugin.AuthZReq', { RequestMethod: 'POST', RequestUri: '/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0' });
    expect(JSON.parse(pull.body)).toMatchObject({ Allow: false });
    expect(JSON.parse((await call(plugin, '/AuthZPlugin.AuthZRes', { RequestMethod: 'POST', RequestUri: '/v1.41/images/create' })).body)).toMatchObject({ Allow: true });
    expect(bundleFilesRead(plugin)).toEqual(['bundle/cli.js']);

    // Not a plugin call: answered by the express app (bundle/vendor/express.js).
    const unknown = await call(plugin, '/Unknown.Call', undefined, 'GET');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('unknown plugin endpoint');
    // A service spec of a few hundred KiB is prepared on a worker thread (bundle/body-worker.js).
    const spec = { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'someone/app:1.0', Env: Array.from({ length: 8000 }, (_, i) => `VAR_${i}=${'x'.repeat(30)}`) } } };
    const service = await call(plugin, '/AuthZPlugin.AuthZReq', {
      RequestMethod: 'POST',
      RequestUri: '/v1.41/services/create',
      RequestHeaders: { 'Content-Type': 'application/json' },
      RequestBody: base64(spec),
    });
    expect(JSON.parse(service.body)).toMatchObject({ Allow: false, Msg: expect.stringContaining('docker.io/someone/app:1.0') });
    expect(bundleFilesRead(plugin).sort()).toEqual(['bundle/body-worker.js', 'bundle/cli.js', 'bundle/vendor/express.js']);
  });

  test('the admin listener loads prom-client and the registry gateway the X.509 library, each from its own file', async () => {
    const metrics = join(dir, 'metrics.sock');
    plugin = await startPlugin(dir, {
      env: {
        NODE_DEBUG: 'module',
        IMAGE_ACCESS_POLICY: 'builtin',
        IMAGE_ACCESS_METRICS: metrics,
        IMAGE_ACCESS_GATEWAY: `127.0.0.1:${await freePort()}`,
        IMAGE_ACCESS_STATE_DIR: join(dir, 'state'),
      },
    });
    const scraped = await httpRequest({ socketPath: metrics, path: '/metrics' });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toContain('# TYPE');
    expect(plugin.logText()).toContain('registry gateway serving dockerd as its HTTPS proxy');
    expect(bundleFilesRead(plugin)).toEqual(expect.arrayContaining(['bundle/cli.js', 'bundle/vendor/prom-client.js', 'bundle/vendor/x509.js']));
  });

  test("the remote sources' HTTP client: axios as the bundle ships it, without the multipart encoder and HTTP/2 it never uses", async () => {
    const server = createServer((req, res) => req.resume().on('end', () => res.end('{"ok":true}')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { axios } = require(join(REPO_ROOT, 'bundle', 'vendor', 'axios.js')) as { axios: typeof import('axios').default };
      expect((await axios.get(url)).data).toEqual({ ok: true });
      // form-data (and mime-db with it) is left out of the bundle: a multipart body is refused, not sent.
      await expect(axios.postForm(url, { field: 'value' })).rejects.toThrow('image-access sends no multipart/form-data bodies');
      // node:http2 is not loaded with it: an HTTP/2 request is refused, not made.
      await expect(axios.get(url, { httpVersion: 2 })).rejects.toThrow('image-access makes no HTTP/2 requests');
    } finally {
      server.close();
    }
  });
});
