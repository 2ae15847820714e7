#!/usr/bin/env node
// Prints the node flags of config.json's entrypoint (`/usr/bin/node [flags] /opt/image-access/SCRIPT`): the one
// description of how the plugin process starts. `make run`, the real-engine tests' harness and the code cache
// (scripts/bundle.js: V8 takes a cache only under the flags it was made with) take their flags from config.json;
// test/unit/runtime-flags.test.ts fails when the systemd unit's NODE_OPTIONS drifts from them.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

function nodeFlags() {
  const { entrypoint } = JSON.parse(readFileSync(join(__dirname, '..', 'config.json'), 'utf8'));
  return entrypoint.slice(1, -1);
}

if (require.main === module) process.stdout.write(`${nodeFlags().join(' ')}\n`);
module.exports = { nodeFlags };
