import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The founders' brief names the packages the product is built on. A footprint saving is found inside them (loaded
 * lazily, configured lean), not by replacing one with hand-written code.
 */
const REQUIRED = ['express', 'axios', 'lru-cache', 'winston'] as const;

const repo = join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [readFileSync(join(dir, entry.name), 'utf8')] : [],
  );
}

describe('required packages', () => {
  const code = sources(join(repo, 'src'));

  test.each(REQUIRED)('%s is a production dependency the plugin loads', (name) => {
    expect(manifest.dependencies[name]).toBeDefined();
    const loads = new RegExp(`(from|require\\()\\s*'${name.replace('-', '\\-')}'`);
    expect(code.some((text) => loads.test(text))).toBe(true);
  });

  test('jest runs the tests', () => {
    expect(manifest.devDependencies['jest']).toBeDefined();
  });
});
