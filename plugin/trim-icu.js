#!/usr/bin/env node
// Trims the ICU data embedded in a node binary to what Node, V8 and image-access use, as Node's own small-icu builds
// do: the root and English locales of every tree (with each tree's index of installed locales rewritten to match),
// normalization, break iterators (rules and dictionaries), Unicode properties, the root collation, time zones, the
// converter alias table and windows-1252; gone are the other ~770 locales, transliteration, legacy converters and
// character names. The trimmed package is written back in place (same address, zero padded): ICU reads
// the package's table of contents, so a smaller valid package works, and the zeros cost nothing compressed.
// Needs readelf (binutils), icupkg and genrb (icu-devtools). Usage: plugin/trim-icu.js NODE   (edits NODE in place)
const { execFileSync } = require('node:child_process');
const { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { basename, dirname, join } = require('node:path');

const node = process.argv[2];
if (!node) throw new Error('usage: plugin/trim-icu.js NODE');

/** Locales kept in every tree: root and English in all its regions (en, en_US, en_GB, en_001, en_US_POSIX...). */
const ENGLISH = /^(root|en|en_.*)\.res$/;
/** A locale's resource bundle (as opposed to data such as supplementalData.res or coll/de_.res aliases). */
const LOCALE_RES = /^([a-z]{2,3}|root)(_[A-Za-z0-9]*)*\.res$/;
/** TextDecoder's encodings beyond the Unicode ones ICU computes: windows-1252 (WHATWG's latin1 and ascii). */
const CONVERTERS = new Set(['ibm-5348_P100-1997.cnv']);
/** Data nothing in JavaScript reaches: character names (\N{...} in ICU patterns) and spoof checks. */
const UNUSED = new Set(['unames.icu', 'confusables.cfu']);

function keep(item) {
  const [tree, name] = item.includes('/') ? item.split('/') : ['', item];
  if (tree === 'translit') return false;
  if (name === 'res_index.res' || name === 'pool.res') return true;
  // The break iterators' locale files are few and small, and the CJK dictionary engine needs ja's.
  if (LOCALE_RES.test(name)) return ENGLISH.test(name) || tree === 'brkitr';
  if (name.endsWith('.cnv')) return CONVERTERS.has(name);
  return !UNUSED.has(name);
}

const run = (command, args) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 2 ** 30 });

/**
 * File offset and size of the embedded ICU package in an ELF binary: node exports icudtNN_dat (kept by strip). None in
 * a node built with small-icu, or linked to the system's libicu (whose data then ships as a library).
 */
function embeddedData(binary) {
  const symbol = /^\s*\d+:\s+([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s+\S+\s+\S+\s+(\d+)\s+(icudt\d+_dat)$/m.exec(run('readelf', ['-W', '--dyn-syms', binary]));
  if (!symbol) return undefined;
  const [, address, size, sectionIndex, name] = symbol;
  const section = new RegExp(`^\\s*\\[\\s*${sectionIndex}\\]\\s+\\S+\\s+\\S+\\s+([0-9a-f]+)\\s+([0-9a-f]+)`, 'm').exec(run('readelf', ['-SW', binary]));
  if (!section) throw new Error(`${binary}: section ${sectionIndex} of ${name} not found`);
  const offset = parseInt(address, 16) - parseInt(section[1], 16) + parseInt(section[2], 16);
  return { name, offset, size: Number(size) };
}

function readAt(file, offset, size) {
  const buffer = Buffer.alloc(size);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, buffer, 0, size, offset) !== size) throw new Error(`${file}: short read at ${offset}`);
  } finally {
    closeSync(fd);
  }
  return buffer;
}

const embedded = embeddedData(node);
if (embedded === undefined) {
  console.log(`plugin/trim-icu.js: ${node} embeds no ICU data (icudtNN_dat); left as it is`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'trim-icu-'));
try {
  const { name, offset, size } = embedded;
  const original = readAt(node, offset, size);
  const dat = join(work, `${name.replace('_dat', '')}l.dat`);
  writeFileSync(dat, original);
  const items = run('icupkg', ['-l', dat]).split('\n').filter(Boolean);
  const removed = items.filter((item) => !keep(item));
  const kept = new Set(items.filter(keep));

  // Each tree's index of installed locales names only the locales kept, so Intl resolves any other to English, as
  // with Node's small-icu, rather than to a locale whose data is gone.
  const list = (path, names) => (writeFileSync(path, `${names.join('\n')}\n`), path);
  const indexes = items.filter((item) => basename(item) === 'res_index.res');
  const rebuilt = join(work, 'indexes');
  for (const index of indexes) {
    const tree = dirname(index);
    const locales = [...kept]
      .filter((item) => dirname(item) === tree && LOCALE_RES.test(basename(item)) && basename(item) !== 'root.res')
      .map((item) => basename(item, '.res'));
    const text = join(work, 'text', tree, 'res_index.txt');
    mkdirSync(dirname(text), { recursive: true });
    mkdirSync(join(rebuilt, tree), { recursive: true });
    writeFileSync(text, `res_index:table(nofallback) {\n  InstalledLocales {\n${locales.map((locale) => `    ${locale} { "" }\n`).join('')}  }\n}\n`);
    run('genrb', ['-q', '-d', join(rebuilt, tree), text]);
  }
  // Same file name: icupkg names the package's items after it (icudt78l/...), where ICU looks for them.
  mkdirSync(join(work, 'trimmed'));
  const trimmed = join(work, 'trimmed', basename(dat));
  run('icupkg', ['-tl', '-r', list(join(work, 'remove.txt'), removed), '-a', list(join(work, 'add.txt'), indexes), '-s', rebuilt, dat, trimmed]);
  const data = readFileSync(trimmed);
  if (data.length > size) throw new Error(`trimmed ICU data (${data.length} bytes) is larger than the embedded ${size}`);

  const fd = openSync(node, 'r+');
  try {
    writeSync(fd, Buffer.concat([data, Buffer.alloc(size - data.length)]), 0, size, offset);
  } finally {
    closeSync(fd);
  }
  console.log(`plugin/trim-icu.js: ${name} ${(size / 2 ** 20).toFixed(1)} -> ${(data.length / 2 ** 20).toFixed(1)} MiB (${kept.size} of ${items.length} items kept)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
