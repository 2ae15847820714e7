#!/usr/bin/env node
// Bundles what ships (the managed plugin, the Debian package, `make run`, the real-engine tests' plugin) into bundle/:
// the sources and the packages loaded at start-up in bundle/app.js, started by bundle/cli.js with the V8 code cache
// bundle/app.cache (made by scripts/code-cache.js with NODE, default this node), the body worker's thread in bundle/body-worker.js
// (body-parsers.ts finds it beside the code that starts it), and each package group the code requires only when a
// feature is on in bundle/vendor/GROUP.js, so a plugin without that feature never reads or parses it. No
// node_modules ship. Usage: scripts/bundle.js [OUT_DIR [NODE]]   (make build)
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');
let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  console.error('scripts/bundle.js: esbuild is missing from node_modules: run npm ci (or make build)');
  process.exit(1);
}

const repo = resolve(__dirname, '..');
const out = resolve(process.argv[2] ?? join(repo, 'bundle'));
const node = process.argv[3] ?? process.execPath;
const { nodeFlags } = require('./node-flags');

// Packages required only on demand, by group. A group is one file, so packages that share state (the X.509 library's
// ASN.1 schema registry, its tsyringe container) have one copy of it.
const LAZY_GROUPS = {
  // The plugin app: loaded on the first request the fast path does not answer (src/protocol/server.ts).
  express: ['express'],
  // The remote policy sources' HTTP client (src/policy/http-client.ts): loaded on the first call to Docker Hub or a policy URL.
  axios: ['axios'],
  // The admin listener's /metrics (src/observability/metrics.ts), only with IMAGE_ACCESS_METRICS.
  'prom-client': ['prom-client'],
  // The registry gateway's certificate authority (src/gateway/certificate-authority.ts), only with IMAGE_ACCESS_GATEWAY.
  x509: ['reflect-metadata', '@peculiar/asn1-schema', '@peculiar/asn1-x509', '@peculiar/x509'],
};
const groupOf = new Map(Object.entries(LAZY_GROUPS).flatMap(([group, packages]) => packages.map((name) => [name, group])));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Less to read and parse at start-up; identifiers keep their names, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: repo,
  write: false,
};

// In the app, `require('express')` becomes `require('./vendor/express.js')['express']`, evaluated where the source
// required it (a lazily initialised module stays lazy).
const vendorImports = {
  name: 'vendor-imports',
  setup(build) {
    build.onResolve({ filter: /^[@a-z]/ }, (args) => (groupOf.has(args.path) ? { path: args.path, namespace: 'vendor' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'vendor' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`./vendor/${groupOf.get(args.path)}.js`)})[${JSON.stringify(args.path)}];`,
      loader: 'js',
      resolveDir: repo,
    }));
    build.onResolve({ filter: /^\.\/vendor\// }, (args) => ({ path: args.path, external: true }));
  },
};

// What axios requires for what image-access never asks of it, in its place something that says so if ever used:
// form-data (and with it mime-db, ~0.9 MiB resident) for multipart bodies, and node:http2 (~1.1 MiB resident)
// for its `httpVersion: 2` requests.
const STAND_INS = {
  'form-data': `module.exports = class FormData { constructor() { throw new Error('image-access sends no multipart/form-data bodies'); } };`,
  http2: `module.exports = { connect() { throw new Error('image-access makes no HTTP/2 requests'); }, constants: {} };`,
};

// A group's file exports each of its packages by name, loaded in the order listed.
const vendorEntries = {
  name: 'vendor-entries',
  setup(build) {
    build.onResolve({ filter: /^[@a-z]/ }, (args) => (args.path in STAND_INS ? { path: args.path, namespace: 'stand-in' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'stand-in' }, (args) => ({ contents: STAND_INS[args.path], loader: 'js' }));
    build.onResolve({ filter: /^vendor-group:/ }, (args) => ({ path: args.path.slice('vendor-group:'.length), namespace: 'vendor-group' }));
    build.onLoad({ filter: /.*/, namespace: 'vendor-group' }, (args) => ({
      contents: LAZY_GROUPS[args.path].map((name) => `exports[${JSON.stringify(name)}] = require(${JSON.stringify(name)});`).join('\n'),
      loader: 'js',
      resolveDir: repo,
    }));
  },
};

// bundle/app.js starts with the line naming its build, a hash of the rest; its code cache starts with the same line
// (src/code-cache.ts). The shebang is bundle/cli.js's.
function withBuildLine(file) {
  const text = file.text.replace(/^#!.*\n/, '');
  const build = createHash('sha256').update(text).digest('hex');
  return { path: file.path, contents: Buffer.from(`// image-access build ${build}\n${text}`) };
}

// Only changed files are rewritten, each by rename: a plugin starting from bundle/ meanwhile reads old or new, never half.
// Files of an earlier layout (a vendor group since removed) go, so the directory holds exactly what ships: those and
// the code cache (`kept`), written next.
function writeOutput(files, kept) {
  for (const { path, contents } of files) {
    if (existsSync(path) && readFileSync(path).equals(contents)) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp-${process.pid}`, contents, { mode: 0o644 });
    renameSync(`${path}.tmp-${process.pid}`, path);
  }
  const current = new Set([...files.map(({ path }) => path), ...kept]);
  for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (entry.isFile() && !current.has(path) && !/\.tmp-\d+$/.test(path)) rmSync(path);
  }
}

async function main() {
  const app = await esbuild.build({
    ...common,
    entryPoints: { cli: 'src/launcher.ts', app: 'src/cli.ts', 'body-worker': 'src/protocol/body-worker.ts' },
    outdir: out,
    plugins: [vendorImports],
  });
  const vendor = await esbuild.build({
    ...common,
    entryPoints: Object.fromEntries(Object.keys(LAZY_GROUPS).map((group) => [`vendor/${group}`, `vendor-group:${group}`])),
    outdir: out,
    plugins: [vendorEntries],
  });
  const appFile = join(out, 'app.js');
  const files = app.outputFiles.map((file) => (file.path === appFile ? withBuildLine(file) : file));
  writeOutput([...files, ...vendor.outputFiles], [join(out, 'app.cache')]);
  // Under config.json's flags alone: NODE_OPTIONS of the caller's would change V8's flags, and V8 refuse the cache.
  execFileSync(node, [...nodeFlags(), join(__dirname, 'code-cache.js'), out], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
}

main().catch((error) => {
  console.error(`scripts/bundle.js: ${error.message}`);
  process.exit(1);
});
