import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Registry } from './registry';

/**
 * "Docker Hub" content for the stand-in registry: repositories as Hub paths (`library/alpine:latest`,
 * `someone/app:1.0`). Every image is the same one-layer busybox-static rootfs; each has its own config (a label with
 * its name), so each gets its own image ID.
 */
export const DEFAULT_HUB_IMAGES: readonly string[] = [
  'library/alpine:latest',
  'library/busybox:latest',
  'acme/app:latest',
  'someone/app:1.0',
  'bitnami/redis:latest',
  'someoss/tool:latest',
];

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'cat', 'ls', 'sleep', 'true', 'false', 'env', 'id', 'wget'];

interface Layer {
  readonly tar: Buffer;
  readonly gzipped: Buffer;
  readonly digest: string;
  readonly diffId: string;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

let layer: Layer | undefined;

/** The busybox rootfs as a reproducible tar.gz layer, built once per test process (about 20 ms). */
function busyboxLayer(): Layer {
  if (layer) return layer;
  const root = mkdtempSync(join(tmpdir(), 'ia-rootfs-'));
  try {
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'tmp'));
    copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    const tar = spawnSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', '.'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    const gzipped = gzipSync(tar.stdout);
    layer = { tar: tar.stdout, gzipped, digest: sha256(gzipped), diffId: sha256(tar.stdout) };
    return layer;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Writes the seeded images' rootfs (busybox-static, /bin/sh and a few applets) as a plain tar: `docker import` input. */
export function writeBusyboxRootfsTar(path: string): void {
  writeFileSync(path, busyboxLayer().tar);
}

const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

function imageConfig(name: string, diffId: string): Buffer {
  const created = '1970-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: GO_ARCH[process.arch] ?? process.arch,
      os: 'linux',
      created,
      config: { Cmd: ['sh'], Env: ['PATH=/bin'], Labels: { 'image-access.test.image': name } },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'image-access test harness: busybox-static' }],
    }),
  );
}

/** Uploads a blob, or mounts it from `mountFrom` (a repository already holding it) without sending it again. */
async function pushBlob(registry: Registry, repository: string, blob: Buffer, digest: string, mountFrom?: string): Promise<void> {
  const head = await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
  if (head.ok) return;
  const mount = mountFrom ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
  const start = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/${mount}`, { method: 'POST' });
  if (start.status === 201) return;
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`blob upload to ${repository} refused: HTTP ${start.status}`);
  const upload = new URL(location, registry.url);
  upload.searchParams.set('digest', digest);
  const put = await fetch(upload, { method: 'PUT', body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`blob upload to ${repository} failed: HTTP ${put.status} ${await put.text()}`);
}

/** Parses `namespace/name:tag` (a Hub path, as the mirror stores it). */
function splitImage(image: string): { repository: string; tag: string } {
  const match = /^([a-z0-9._-]+(?:\/[a-z0-9._/-]+)?):([\w][\w.-]{0,127})$/.exec(image);
  if (!match) throw new Error(`seed image ${JSON.stringify(image)} must look like namespace/name:tag (or, as a mirror may hold, name:tag)`);
  return { repository: match[1]!, tag: match[2]! };
}

/** Pushes one image of one layer straight through the registry API; `holder` already has the layer, to mount from. */
async function pushImage(registry: Registry, image: string, { gzipped, digest, diffId }: Layer, holder?: string): Promise<void> {
  const { repository, tag } = splitImage(image);
  const config = imageConfig(image, diffId);
  const configDigest = sha256(config);
  await pushBlob(registry, repository, gzipped, digest, holder);
  await pushBlob(registry, repository, config, configDigest);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: gzipped.length, digest }],
  });
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  if (put.status !== 201) throw new Error(`manifest ${image} refused: HTTP ${put.status} ${await put.text()}`);
}

/** Pushes each image straight through the registry API: no daemon needed (see README "Testing" for timings). */
export async function seedImages(registry: Registry, images: readonly string[] = DEFAULT_HUB_IMAGES): Promise<void> {
  let holder: string | undefined;
  for (const image of images) {
    await pushImage(registry, image, busyboxLayer(), holder);
    holder = splitImage(image).repository;
  }
}

/** An image whose one layer holds `bytes` of random data (gzip cannot shrink it): for transfer benchmarks. */
export async function seedLargeImage(registry: Registry, image: string, bytes: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'ia-large-'));
  try {
    writeFileSync(join(root, 'random.bin'), randomBytes(bytes));
    const tar = spawnSync('tar', ['--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', '.'], { maxBuffer: bytes + 1024 * 1024 });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    const gzipped = gzipSync(tar.stdout, { level: 1 });
    await pushImage(registry, image, { tar: tar.stdout, gzipped, digest: sha256(gzipped), diffId: sha256(tar.stdout) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
