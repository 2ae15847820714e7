import { join } from 'node:path';
import { startDaemon, type Daemon, type DaemonOptions } from './daemon';
import type { DockerOptions, DockerResult } from './docker-cli';
import { startPlugin, type PluginOptions, type PluginProcess } from './plugin';
import { startRegistry, type Registry } from './registry';
import { DEFAULT_HUB_IMAGES, seedImages } from './seed';
import { makeTempDir, removeTempDir } from './tempdir';
import { freePort } from './wait';

export interface EngineOptions {
  /** Hub paths to seed into the stand-in Hub (default DEFAULT_HUB_IMAGES). */
  readonly images?: readonly string[];
  /** The image-access plugin to start and put in the daemon's chain; `false` for a daemon without it. */
  readonly plugin?: PluginOptions | false;
  /** More dockerd options; `mirror` is set to the stand-in Hub, the plugin is prepended to `authorizationPlugins`. */
  readonly daemon?: Omit<DaemonOptions, 'mirror'>;
  /**
   * Docker Hub through the plugin's registry gateway, as `image-access install --gateway` sets a host up: no registry
   * mirror; the plugin gets IMAGE_ACCESS_GATEWAY on a free loopback port, IMAGE_ACCESS_HUB_REGISTRY = the stand-in Hub
   * and IMAGE_ACCESS_STATE_DIR `<dir>/state`; dockerd gets HTTPS_PROXY = the gateway and SSL_CERT_DIR with the
   * gateway CA, so it reaches "registry-1.docker.io" (the stand-in Hub) through the gateway only.
   */
  readonly gateway?: boolean;
  /**
   * With `gateway`, dockerd also has a registry mirror: `fronted` = the gateway itself (it forwards to the stand-in
   * Hub), `around` = the stand-in Hub directly, told to the plugin as IMAGE_ACCESS_HUB_MIRRORS (builds get past the
   * gateway that way).
   */
  readonly gatewayMirror?: 'fronted' | 'around';
}

/** A real engine on loopback: stand-in Hub registry, image-access plugin, dockerd, all under one temp dir. */
export interface Engine {
  /** The temp dir holding everything: logs are `<name>.out` / `<name>.err` (registry, plugin, dockerd). */
  readonly dir: string;
  readonly registry: Registry;
  /** Absent when started with `plugin: false`. */
  readonly plugin: PluginProcess | undefined;
  /** `127.0.0.1:PORT` of the registry gateway, when started with `gateway: true`. */
  readonly gateway: string | undefined;
  readonly daemon: Daemon;
  docker(args: readonly string[], options?: DockerOptions): Promise<DockerResult>;
  /** Stops the daemon, the plugin and the registry (only what this engine started), then removes the temp dir. */
  stop(): Promise<void>;
}

/** Runs every step of `stops`, last started first, even when one of them throws. */
async function stopAll(stops: Array<() => Promise<void>>): Promise<void> {
  const errors: unknown[] = [];
  for (const stop of [...stops].reverse()) {
    try {
      await stop();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
}

export async function startEngine(options: EngineOptions = {}): Promise<Engine> {
  const dir = makeTempDir();
  const stops: Array<() => Promise<void>> = [async () => removeTempDir(dir)];
  try {
    const registry = await startRegistry(dir);
    stops.push(() => registry.stop());
    await seedImages(registry, options.images ?? DEFAULT_HUB_IMAGES);
    const gateway = options.gateway === true ? `127.0.0.1:${await freePort()}` : undefined;
    const stateDir = join(dir, 'state');
    const pluginOptions = options.plugin === false ? undefined : options.plugin ?? {};
    const plugin =
      pluginOptions === undefined
        ? undefined
        : await startPlugin(dir, {
            ...pluginOptions,
            env: {
              ...(gateway === undefined
                ? {}
                : {
                    IMAGE_ACCESS_GATEWAY: gateway,
                    IMAGE_ACCESS_HUB_REGISTRY: `http://${registry.address}`,
                    IMAGE_ACCESS_STATE_DIR: stateDir,
                    ...(options.gatewayMirror === 'around' ? { IMAGE_ACCESS_HUB_MIRRORS: registry.address } : {}),
                  }),
              ...pluginOptions.env,
            },
          });
    if (plugin) stops.push(() => plugin.stop());
    const daemon = await startDaemon(dir, {
      ...options.daemon,
      ...(gateway === undefined
        ? { mirror: registry.address }
        : {
            env: { HTTPS_PROXY: `http://${gateway}`, SSL_CERT_DIR: `/etc/ssl/certs:${join(stateDir, 'gateway-ca')}`, ...options.daemon?.env },
            ...(options.gatewayMirror === undefined ? {} : { mirror: options.gatewayMirror === 'fronted' ? gateway : registry.address }),
          }),
      authorizationPlugins: [...(plugin ? [plugin.name] : []), ...(options.daemon?.authorizationPlugins ?? [])],
    });
    stops.push(() => daemon.stop());
    let stopped: Promise<void> | undefined;
    return {
      dir,
      registry,
      plugin,
      gateway,
      daemon,
      docker: (args, dockerOptions) => daemon.docker(args, dockerOptions),
      stop: () => (stopped ??= stopAll(stops)),
    };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}
