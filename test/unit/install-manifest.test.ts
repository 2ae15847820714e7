import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, settingsMarkdown } from '../../src/config/settings';

interface Mount {
  name: string;
  settable?: string[];
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
  test('runs the bundled CLI from the rootfs layout plugin/build.sh assembles (node flags may come between)', () => {
    expect(manifest.entrypoint[0]).toBe('/usr/bin/node');
    expect(manifest.entrypoint.at(-1)).toBe(`${manifest.workdir}/bundle/cli.js`);
    expect(manifest.workdir).toBe('/opt/image-access');
  });

  test('the host view: non-recursive binds of directories every Linux host has, read-only but for /var/lib', () => {
    expect(manifest.mounts.map((m) => `${m.source}:${m.destination}:${m.options.join(',')}`)).toStrictEqual([
      '/etc:/host/etc:bind,ro',
      '/usr/share:/host/usr/share:bind,ro',
      '/root:/host/root:bind,ro',
      '/home:/host/home:bind,ro',
      '/var/lib:/host/var/lib:bind,rw',
    ]);
    for (const mount of manifest.mounts) {
      expect(mount.type).toBe('bind');
      // Not settable: `docker plugin upgrade` resets mount sources to the manifest's, so a fleet never sets one.
      expect(mount.settable).toBeUndefined();
    }
  });

  test('what the settings read by default lies under a mounted host directory (plugin/build.sh links it there)', () => {
    const underMount = (path: string) => manifest.mounts.some((m) => path.startsWith(`${m.source}/`));
    for (const env of ['IMAGE_ACCESS_DOCKER_CONFIG', 'IMAGE_ACCESS_REGISTRY_JSON', 'IMAGE_ACCESS_DAEMON_JSON', 'IMAGE_ACCESS_STATE_DIR']) {
      expect([env, underMount(defaultOf(env) ?? '')]).toEqual([env, true]);
    }
    const build = readFileSync(join(__dirname, '../../plugin/build.sh'), 'utf8');
    for (const link of ['etc/docker', 'usr/share/docker-desktop', 'root', 'var/lib']) {
      expect(build).toContain(`ln -s /host/${link} "$rootfs/${link}"`);
    }
  });
});

describe('README settings table', () => {
  test('lists every setting as the settings table says (run scripts/sync-manifest-env.js after changing one)', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(readme);
    expect(table?.[1]).toBe(settingsMarkdown());
  });
});

describe('README table of contents', () => {
  test('links every ## and ### section, in order (add a line under **Contents** when you add a section)', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    const slug = (title: string) => title.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
    const headings = [...readme.matchAll(/^(##|###) (.+)$/gm)].map(([, level, title]) => `${level === '##' ? '' : '  '}- [${title}](#${slug(title!)})`);
    const contents = /\*\*Contents\*\*\n\n((?:\s*- .*\n)+)/.exec(readme);
    expect(contents?.[1]?.trimEnd().split('\n')).toEqual(headings);
  });
});
