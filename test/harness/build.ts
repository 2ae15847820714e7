import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DockerOptions, DockerResult } from './docker-cli';
import { CLI_PLUGINS_DIR, requireTrixie } from './engine-version';

/**
 * Builds and compose against a harness engine. Engines run with `--bridge=none`, so a Dockerfile `RUN` step fails
 * (BuildKit: "network bridge not found"): build with `FROM` + `LABEL`/`COPY`.
 */

/** The harness CLI bound to one daemon: `engine.docker` or `daemon.docker`. */
export type DockerRunner = (args: readonly string[], options?: DockerOptions) => Promise<DockerResult>;

/** Writes `files` (path relative to `dir` -> content, e.g. `{ Dockerfile: 'FROM alpine\n' }`) under `dir`; returns `dir`. */
export function writeBuildContext(dir: string, files: Readonly<Record<string, string>>): string {
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}

export interface BuildOptions extends DockerOptions {
  readonly tag: string;
  /** More `build` flags, before the context (e.g. `['-f', 'other.Dockerfile', '--build-arg', 'X=1']`). */
  readonly args?: readonly string[];
}

/**
 * BuildKit through `docker buildx build` (buildx 0.13.1 from the trixie tree) on the engine's built-in builder: the
 * `docker` driver, so the image lands in the engine without `--load`.
 */
export function buildxBuild(docker: DockerRunner, context: string, options: BuildOptions): Promise<DockerResult> {
  requireTrixie(join(CLI_PLUGINS_DIR, 'docker-buildx'));
  return docker(['buildx', 'build', '--progress=plain', '-t', options.tag, ...(options.args ?? []), context], options);
}

/** The classic builder: `DOCKER_BUILDKIT=0 docker build`. */
export function classicBuild(docker: DockerRunner, context: string, options: BuildOptions): Promise<DockerResult> {
  return docker(['build', '-t', options.tag, ...(options.args ?? []), context], { ...options, env: { ...options.env, DOCKER_BUILDKIT: '0' } });
}

/** `docker compose -f FILE ARGS...` (compose 2.26.1 from the trixie tree), e.g. `['pull']` or `['build']`. */
export function compose(docker: DockerRunner, file: string, args: readonly string[], options: DockerOptions = {}): Promise<DockerResult> {
  requireTrixie(join(CLI_PLUGINS_DIR, 'docker-compose'));
  return docker(['compose', '-f', file, ...args], options);
}
