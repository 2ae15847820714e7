#!/usr/bin/env node
// Prints the node flags of config.json's entrypoint (`/usr/bin/node [flags] /opt/image-access/SCRIPT`): the one
// description of how the plugin process starts. `make run` and the real-engine tests' harness take their flags from
// config.json; test/unit/runtime-flags.test.ts fails when the systemd unit's NODE_OPTIONS drifts from them.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const { entrypoint } = JSON.parse(readFileSync(join(__dirname, '..', 'config.json'), 'utf8'));
process.stdout.write(`${entrypoint.slice(1, -1).join(' ')}\n`);
