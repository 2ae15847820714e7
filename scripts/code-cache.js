#!/usr/bin/env node
// Writes BUNDLE_DIR/app.cache, the V8 code cache bundle/cli.js compiles bundle/app.js with (src/code-cache.ts): the
// plugin is run here, as the daemon starts it (auto policy of an organisation, no network reached), until it has
// answered Activate, and what V8 compiled for that is saved. Run by scripts/bundle.js with the node that will run the
// bundle and config.json's node flags (V8 refuses a cache made under other flags). A cache this node takes already is
// kept. Usage: node [config.json's node flags] scripts/code-cache.js BUNDLE_DIR
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { request } = require('node:http');
const { createRequire } = require('node:module');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const bundle = resolve(process.argv[2]);
const cacheFile = join(bundle, 'app.cache');
const { compileWithCodeCache } = require(join(bundle, 'cli.js'));
const app = compileWithCodeCache(join(bundle, 'app.js'), cacheFile);
if (app.codeCache === 'used') process.exit(0);

const dir = mkdtempSync(join(tmpdir(), 'ia-code-cache-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const socket = join(dir, 'plugin.sock');
for (const name of Object.keys(process.env)) if (name.startsWith('IMAGE_ACCESS_')) delete process.env[name];
Object.assign(process.env, {
  IMAGE_ACCESS_SOCKET: socket,
  IMAGE_ACCESS_ORG: 'acme',
  IMAGE_ACCESS_HUB_URL: 'http://127.0.0.1:9',
  IMAGE_ACCESS_DOCKER_CONFIG: dir,
  IMAGE_ACCESS_REGISTRY_JSON: '',
  IMAGE_ACCESS_DAEMON_JSON: '',
  IMAGE_ACCESS_STATE_DIR: dir,
  IMAGE_ACCESS_LOG_LEVEL: 'error',
});
process.argv = [process.argv[0], join(bundle, 'cli.js'), 'run'];
app.run(module, createRequire(join(bundle, 'cli.js')));

const activate = () =>
  request({ socketPath: socket, path: '/Plugin.Activate', method: 'POST' }, (reply) => {
    reply.resume();
    reply.on('end', () => {
      writeFileSync(`${cacheFile}.tmp-${process.pid}`, app.cacheData(), { mode: 0o644 });
      renameSync(`${cacheFile}.tmp-${process.pid}`, cacheFile);
      process.exit(0);
    });
  })
    .on('error', () => setTimeout(activate, 5))
    .end();
activate();
setTimeout(() => {
  console.error(`scripts/code-cache.js: the plugin did not answer Activate on ${socket} within 20 s`);
  process.exit(1);
}, 20_000).unref();
