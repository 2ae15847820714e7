import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * bundle/cli.js compiles bundle/app.js with the V8 code cache made at assembly: taken when it was made for this build,
 * by this node, under these flags; otherwise the script is compiled as without one, and runs the same. Each start is
 * a node process of its own (within one, V8 answers a script it compiled before from memory, never reading a cache),
 * on the compiled sources (dist/: npx tsc -p tsconfig.json).
 */
const COMPILED = join(__dirname, '..', '..', 'dist', 'code-cache.js');

let dir: string;
let app: string;
let cache: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-code-cache-'));
  app = join(dir, 'app.js');
  cache = join(dir, 'app.cache');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BUILD_LINE = (build: string) => `// image-access build ${build}\n`;

/** A build of the app: its first line names it, as scripts/bundle.js writes it. */
const writeApp = (build: string, answer: number, word = 'plain') =>
  writeFileSync(
    app,
    `${BUILD_LINE(build)}"use strict";\nconst { basename } = require('node:path');\nfunction answer() { return ${answer}; }\n` +
      `module.exports.answer = answer(); module.exports.file = basename(__filename);\nmodule.exports.line = () => new Error().stack.split('\\n')[1];\n` +
      `module.exports.word = ${JSON.stringify(word)};\n`,
  );

/**
 * Starts the app in a node of its own, as bundle/cli.js does; with `write`, then writes its cache as
 * scripts/code-cache.js does. Then makes 100 MB of short-lived garbage and says how large V8's new space grew.
 */
const start = (flags: string[] = [], write = false) => {
  const script = `const compiled = require(${JSON.stringify(COMPILED)}).compileWithCodeCache(${JSON.stringify(app)}, ${JSON.stringify(cache)});
const app = { exports: {} };
compiled.run(app, require);
${write ? `require('node:fs').writeFileSync(${JSON.stringify(cache)}, compiled.cacheData());` : ''}
let kept = [];
for (let i = 0; i < 2e6; i++) { kept.push({ i, text: 'x' + i }); if (kept.length > 20000) kept = []; }
const newSpace = require('node:v8').getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
process.stdout.write(JSON.stringify({ codeCache: compiled.codeCache, answer: app.exports.answer, file: app.exports.file, line: app.exports.line(), word: app.exports.word, newSpace }));`;
  const run = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as { codeCache: string; answer: number; file: string; line: string; word: string; newSpace: number };
};

describe('the code cache bundle/cli.js compiles the app with', () => {
  beforeAll(() => expect(existsSync(COMPILED)).toBe(true));

  test('is used when made for this build by this node under these flags', () => {
    writeApp('a'.repeat(64), 42);
    expect(start([], true)).toMatchObject({ codeCache: 'none', answer: 42, file: 'app.js' });
    expect(readFileSync(cache).toString('latin1', 0, 87)).toBe(BUILD_LINE('a'.repeat(64)));
    expect(start()).toMatchObject({ codeCache: 'used', answer: 42, file: 'app.js' });
  });

  test("is ignored when it is another build's, even one of the same length (V8 would take it and run the old code)", () => {
    writeApp('a'.repeat(64), 42);
    start([], true);
    writeApp('b'.repeat(64), 43);
    expect(start()).toMatchObject({ codeCache: 'stale', answer: 43 });
  });

  test('is ignored when V8 refuses it: made under other V8 flags, or cut short', () => {
    writeApp('a'.repeat(64), 42);
    start(['--stack-size=900'], true);
    expect(start()).toMatchObject({ codeCache: 'rejected', answer: 42 });
    start([], true);
    writeFileSync(cache, readFileSync(cache).subarray(0, 87 + 64));
    expect(start()).toMatchObject({ codeCache: 'rejected', answer: 42 });
  });

  test("holds under config.json's --max-semi-space-size=1, set back once it has sized the heap, which keeps its small semi-spaces", () => {
    writeApp('a'.repeat(64), 42);
    expect(start([], true)).toMatchObject({ codeCache: 'none', newSpace: expect.any(Number) });
    const small = start(['--max-semi-space-size=1']);
    // V8 compares flags: it takes a cache made without the flag only once the flag is back at its default.
    expect(small).toMatchObject({ codeCache: 'used', answer: 42 });
    // A semi-space of 1 MiB (two of them): not the 16 MiB ones the same garbage grows without the flag.
    expect(small.newSpace).toBeLessThanOrEqual(2);
    expect(start().newSpace).toBeGreaterThan(2);
  });

  test('is not needed: without one the app runs', () => {
    writeApp('a'.repeat(64), 42);
    expect(start()).toMatchObject({ codeCache: 'none', answer: 42 });
  });

  test('reads an app that is not plain ASCII as UTF-8', () => {
    writeApp('a'.repeat(64), 42, 'café ✓');
    expect(start([], true)).toMatchObject({ codeCache: 'none', word: 'café ✓' });
    expect(start()).toMatchObject({ codeCache: 'used', word: 'café ✓' });
  });

  test("keeps the file's line numbers in stack traces", () => {
    writeApp('a'.repeat(64), 42);
    start([], true);
    expect(start()).toMatchObject({ codeCache: 'used', line: expect.stringContaining(`${app}:6:`) });
  });
});
