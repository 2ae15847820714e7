/**
 * The real-engine test harness: everything a test needs to run the real `docker` CLI against a real `dockerd` that
 * consults image-access, offline, on loopback, in temp dirs, side by side with other harnesses on the same machine.
 *
 * Quick start (jest):
 *
 *     let engine: Engine;
 *     const env = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off' };
 *     beforeAll(async () => { engine = await startEngine({ plugin: { env } }); });
 *     afterAll(() => engine?.stop());
 *     it('pulls', async () => expect((await engine.docker(['pull', 'alpine'])).code).toBe(0));
 *
 * - `startEngine` = `startRegistry` + `seedImages` + `startPlugin` + `startDaemon` in one temp dir; use the pieces
 *   directly for other layouts (a daemon without the plugin, a managed plugin, two daemons on one registry...).
 * - Every process is tracked by pid and stopped by pid (SIGTERM, then SIGKILL after a bound), output captured to
 *   `<dir>/<name>.out|.err`. Each runs under `setpriv --pdeathsig SIGKILL`, so it dies with a crashed test run.
 * - The plugin is a legacy plugin with a unique name (`ia-test-xxxxxxxx`) and a spec file in /etc/docker/plugins
 *   pointing at `<dir>/plugin.sock`; `stop()` removes the spec file. It inherits no IMAGE_ACCESS_* variable from the
 *   test process; IMAGE_ACCESS_DOCKER_CONFIG defaults to `cliConfigDir(dir)`, the harness CLI's DOCKER_CONFIG (so
 *   `docker login` through the harness signs the machine in, as root's ~/.docker does), IMAGE_ACCESS_REGISTRY_JSON
 *   to none. Note IMAGE_ACCESS_REQUIRE_SIGNIN=auto turns enforced sign-in on once IMAGE_ACCESS_ORG is set.
 * - dockerd never reads the host's /etc/docker/daemon.json (it gets its own `--config-file`).
 * - The engine is IA_ENGINE: `20.10` (default, Debian bookworm's dockerd) or `26.1` (trixie's dockerd 26.1.5, which
 *   scripts/test-deps.sh extracts to /var/cache/image-access-tests/trixie); `ENGINE` / `daemon.engine` tell tests
 *   which runs. The harness CLI has docker-buildx and docker-compose from that tree on both engines: `buildxBuild`,
 *   `classicBuild`, `compose`, `writeBuildContext`.
 * - The plugin runs from bundle/cli.js, what ships (the e2e project's global setup bundles the sources). Needs root, dockerd, docker,
 *   docker-registry, /bin/busybox (busybox-static) and the trixie tree; `make test-deps` fetches what is missing.
 * - IA_KEEP_TMP=1 keeps the temp dirs for a post-mortem.
 */
export { startEngine, type Engine, type EngineOptions } from './engine';
export { startDaemon, type Daemon, type DaemonOptions } from './daemon';
export { cliConfigDir, runDocker, type DockerOptions, type DockerResult } from './docker-cli';
export { ENGINE, ENGINE_VERSIONS, TRIXIE_TREE, CLI_PLUGINS_DIR, type EngineVersion } from './engine-version';
export { buildxBuild, classicBuild, compose, writeBuildContext, type BuildOptions, type DockerRunner } from './build';
export {
  startPlugin,
  registerLegacyPlugin,
  unregisterLegacyPlugin,
  uniquePluginName,
  PLUGIN_CLI,
  MANAGED_SCRIPT,
  PLUGIN_NODE_FLAGS,
  LEGACY_SPEC_DIR,
  REPO_ROOT,
  type PluginOptions,
  type PluginProcess,
} from './plugin';
export { spawnTracked, type TrackedProcess, type SpawnOptions } from './processes';
export { startRegistry, type Registry, type RegistryOptions } from './registry';
export { seedImages, seedLargeImage, writeBusyboxRootfsTar, DEFAULT_HUB_IMAGES } from './seed';
export { makeTempDir, removeTempDir } from './tempdir';
export { rawHttpRequest, chunkedBody, type RawReply } from './raw-http';
export { freePort, httpRequest, waitUntil, sleep, type HttpReply } from './wait';
