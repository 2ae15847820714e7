import { startDaemon, type Daemon, type DaemonOptions } from './daemon';
import type { DockerOptions, DockerResult } from './docker-cli';
import { startPlugin, type PluginOptions, type PluginProcess } from './plugin';
import { startRegistry, type Registry } from './registry';
import { DEFAULT_HUB_IMAGES, seedImages } from './seed';
import { makeTempDir, removeTempDir } from './tempdir';

export interface EngineOptions {
  /** Hub paths to seed into the stand-in Hub (default DEFAULT_HUB_IMAGES). */
  readonly images?: readonly string[];
  /** The image-access plugin to start and put in the daemon's chain; `false` for a daemon without it. */
  readonly plugin?: PluginOptions | false;
  /** More dockerd options; `mirror` is set to the stand-in Hub, the plugin is prepended to `authorizationPlugins`. */
  readonly daemon?: Omit<DaemonOptions, 'mirror'>;
}

/** A real engine on loopback: stand-in Hub registry, image-access plugin, dockerd, all under one temp dir. */
export interface Engine {
  /** The temp dir holding everything: logs are `<name>.out` / `<name>.err` (registry, plugin, dockerd). */
  readonly dir: string;
  readonly registry: Registry;
  /** Absent when started with `plugin: false`. */
  readonly plugin: PluginProcess | undefined;
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
    const plugin = options.plugin === false ? undefined : await startPlugin(dir, options.plugin ?? {});
    if (plugin) stops.push(() => plugin.stop());
    const daemon = await startDaemon(dir, {
      ...options.daemon,
      mirror: registry.address,
      authorizationPlugins: [...(plugin ? [plugin.name] : []), ...(options.daemon?.authorizationPlugins ?? [])],
    });
    stops.push(() => daemon.stop());
    let stopped: Promise<void> | undefined;
    return {
      dir,
      registry,
      plugin,
      daemon,
      docker: (args, dockerOptions) => daemon.docker(args, dockerOptions),
      stop: () => (stopped ??= stopAll(stops)),
    };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}
