#!/usr/bin/env node
// Rewrites, from the settings table in src/config/settings.ts (run after `npx tsc`): the `env` list of the
// managed-plugin manifest (config.json), keeping every other field, and README.md's settings table between its
// `settings-table` markers. test/unit/settings.test.ts and test/unit/install-manifest.test.ts fail when they drift.
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { SETTINGS, settingsMarkdown } = require('../dist/config/settings.js');
const path = join(__dirname, '..', 'config.json');
const manifest = JSON.parse(readFileSync(path, 'utf8'));
// After the settings, the manifest's other entries as they are: the process environment that is not a setting
// (GLIBC_TUNABLES, read by the C library before node runs).
const runtimeEnv = manifest.env.filter((entry) => !entry.name.startsWith('IMAGE_ACCESS_') && !SETTINGS.some((s) => s.env === entry.name));
manifest.env = [
  ...SETTINGS.map((s) => ({ name: s.env, description: s.description, settable: ['value'], value: s.managedDefault ?? s.default })),
  ...runtimeEnv,
];
writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`);

const readmePath = join(__dirname, '..', 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const table = /(<!-- settings-table:start -->)[\s\S]*?(<!-- settings-table:end -->)/;
if (table.test(readme)) writeFileSync(readmePath, readme.replace(table, (_all, start, end) => `${start}\n${settingsMarkdown()}\n${end}`));
