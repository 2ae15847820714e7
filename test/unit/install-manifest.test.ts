import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SETTINGS, settingsMarkdown } from '../../src/config/settings';

interface Mount {
  name: string;
  settable: string[];
  source: string;
  destination: string;
  type: string;
  options: string[];
}

const manifest = JSON.parse(readFileSync(join(__dirname, '../../config.json'), 'utf8')) as {
  entrypoint: string[];
  workdir: string;
  mounts: Mount[];
};
const defaultOf = (env: string) => SETTINGS.find((s) => s.env === env)?.default;

describe('managed-plugin manifest: entrypoint and mounts', () => {
  test('runs the compiled CLI from the rootfs layout plugin/build.sh assembles', () => {
    expect(manifest.entrypoint).toEqual(['/usr/bin/node', `${manifest.workdir}/dist/cli.js`]);
    expect(manifest.workdir).toBe('/opt/image-access');
  });

  test('every mount is a read-only bind whose host source fleets can change with docker plugin set', () => {
    expect(manifest.mounts.map((m) => m.name)).toStrictEqual(['docker-config', 'registry-json']);
    for (const mount of manifest.mounts) {
      expect(mount).toMatchObject({ type: 'bind', settable: ['source'] });
      expect(mount.options).toEqual(expect.arrayContaining(['rbind', 'ro']));
      expect(mount.options).not.toContain('rw');
    }
  });

  test('the Docker sign-in directory lands where IMAGE_ACCESS_DOCKER_CONFIG looks by default', () => {
    const mount = manifest.mounts.find((m) => m.name === 'docker-config');
    expect(mount?.destination).toBe('/root/.docker');
    expect(mount?.destination).toBe(defaultOf('IMAGE_ACCESS_DOCKER_CONFIG'));
  });

  test("registry.json's directory is mounted where IMAGE_ACCESS_REGISTRY_JSON looks by default (Docker Desktop's place)", () => {
    const mount = manifest.mounts.find((m) => m.name === 'registry-json');
    expect(mount?.destination).toBe('/usr/share/docker-desktop/registry');
    expect(mount?.destination).toBe(dirname(defaultOf('IMAGE_ACCESS_REGISTRY_JSON') ?? ''));
  });
});

describe('README settings table', () => {
  test('lists every setting as the settings table says (run scripts/sync-manifest-env.js after changing one)', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(readme);
    expect(table?.[1]).toBe(settingsMarkdown());
  });
});
