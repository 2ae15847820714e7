import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The dockerd versions the real-engine suite runs on: Debian bookworm's docker.io (installed) and trixie's, which
 * scripts/test-deps.sh extracts (never installs) with docker-buildx and docker-compose. Both run on bookworm's
 * containerd and runc.
 */
export const ENGINE_VERSIONS = ['20.10', '26.1'] as const;
export type EngineVersion = (typeof ENGINE_VERSIONS)[number];

/** Where scripts/test-deps.sh extracts Debian trixie's packages (IA_ENGINES_CACHE as there). */
export const TRIXIE_TREE = join(process.env['IA_ENGINES_CACHE'] || '/var/cache/image-access-tests', 'trixie', 'x');
/** docker-buildx 0.13.1 and docker-compose 2.26.1, given to the harness CLI whichever engine runs. */
export const CLI_PLUGINS_DIR = join(TRIXIE_TREE, 'usr', 'libexec', 'docker', 'cli-plugins');

function parseEngine(value: string | undefined): EngineVersion {
  const engine = value || '20.10';
  const known: readonly string[] = ENGINE_VERSIONS;
  if (!known.includes(engine)) throw new Error(`IA_ENGINE=${engine}: expected one of ${ENGINE_VERSIONS.join(', ')}`);
  return engine as EngineVersion;
}

/**
 * The engine this test run starts, from IA_ENGINE (default 20.10). Tests whose expectations differ by engine branch
 * on it, saying why (e.g. 26.1 forwards request bodies up to 4 MiB, 20.10 up to 1 MiB).
 */
export const ENGINE: EngineVersion = parseEngine(process.env['IA_ENGINE']);

export interface DockerdCommand {
  readonly command: string;
  /** Prepended to PATH for dockerd alone: it finds docker-proxy and docker-init there. */
  readonly pathPrefix: readonly string[];
}

/** `path` inside the trixie tree, or a clear error saying how to get it. */
export function requireTrixie(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/test-deps.sh (make test-deps) as root first`);
  return path;
}

/** How to start dockerd of `engine`. */
export function dockerdCommand(engine: EngineVersion): DockerdCommand {
  if (engine === '20.10') return { command: 'dockerd', pathPrefix: [] };
  const sbin = join(TRIXIE_TREE, 'usr', 'sbin');
  return { command: requireTrixie(join(sbin, 'dockerd')), pathPrefix: [sbin] };
}

/** The harness CLI's config.json: the trixie tree's CLI plugins (a missing directory is ignored by the CLI). */
export const CLI_CONFIG_JSON = { cliPluginsExtraDirs: [CLI_PLUGINS_DIR] };
