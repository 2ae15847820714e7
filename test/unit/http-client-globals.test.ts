import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * axios loads without Node's fetch machinery (undici, web streams, worker_threads: ~6.8 MiB resident for as long as the
 * plugin runs), and the globals it is kept from are Node's own again once it has. A fresh node on the compiled
 * sources (dist/: npx tsc -p tsconfig.json): jest's own globals and modules would hide what a plugin process loads.
 */
const HTTP_CLIENT = join(__dirname, '..', '..', 'dist', 'policy', 'http-client.js');
const FETCH_MACHINERY = ['internal/deps/undici/undici', 'internal/webstreams/readablestream', 'worker_threads'];

/** `prelude` runs first: what a node of another version might have done to its globals. */
const child = (prelude = '') => `${prelude}
const { createServer } = require('node:http');
const { createHttp, send } = require(${JSON.stringify(HTTP_CLIENT)});
const server = createServer((req, res) => req.resume().on('end', () => res.end('{"ok":true}')));
server.listen(0, '127.0.0.1', async () => {
  const reply = await send(createHttp(5000), { method: 'GET', url: 'http://127.0.0.1:' + server.address().port + '/', what: 'GET /' }, 5000);
  server.close();
  const builtins = process.moduleLoadList.filter((name) => name.startsWith('NativeModule ')).map((name) => name.slice(13));
  const globals = ['fetch', 'Request', 'Response', 'Headers', 'FormData', 'ReadableStream'].map((name) => typeof globalThis[name]);
  process.stdout.write(JSON.stringify({ text: reply.text, builtins, globals }) + '\\n');
});
`;

function callInFreshNode(prelude?: string): { text: string; builtins: string[]; globals: string[] } {
  const run = spawnSync(process.execPath, ['-e', child(prelude)], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env['PATH'] ?? '' } });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout.trim()) as { text: string; builtins: string[]; globals: string[] };
}

test('a remote call through axios loads no fetch machinery, and leaves the fetch globals as Node has them', () => {
  const seen = callInFreshNode();
  expect(seen.text).toBe('{"ok":true}');
  expect(seen.builtins).toContain('http');
  expect(seen.builtins.filter((name) => FETCH_MACHINERY.includes(name))).toEqual([]);
  expect(seen.globals).toEqual(['function', 'function', 'function', 'function', 'function', 'function']);
});

test('a fetch global that cannot be redefined is left as it is, and the call is still made', () => {
  const seen = callInFreshNode("Object.defineProperty(globalThis, 'fetch', { value: globalThis.fetch, configurable: false, writable: false });");
  expect(seen.text).toBe('{"ok":true}');
  expect(seen.globals[0]).toBe('function');
});
