#!/usr/bin/env node
// Rewrites the `env` list of the managed-plugin manifest (config.json) from the settings table in src/config/settings.ts
// (run after `npx tsc`), keeping every other field. test/unit/manifest.test.ts fails when they drift apart.
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { SETTINGS } = require('../dist/config/settings.js');
const path = join(__dirname, '..', 'config.json');
const manifest = JSON.parse(readFileSync(path, 'utf8'));
manifest.env = SETTINGS.map((s) => ({ name: s.env, description: s.description, settable: ['value'], value: s.default }));
writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`);
