/**
 * Where plugin NAME answers, so that `image-access install --name NAME` needs no `--socket`: a managed plugin (asked
 * of dockerd with `docker plugin inspect`) listens on `/run/docker/plugins/<id>/<interface.socket>` whatever dockerd's
 * --exec-root; anything else is a legacy plugin on `/run/docker/plugins/NAME.sock`.
 */
import { execFile } from 'node:child_process';
import { z } from 'zod';

const inspectSchema = z
  .array(
    z.object({
      Id: z.string().regex(/^[0-9a-f]{64}$/),
      Enabled: z.boolean(),
      Config: z.object({ Interface: z.object({ Socket: z.string().regex(/^[^/]+$/) }) }),
    }),
  )
  .length(1);

export type PluginLocation =
  | { readonly kind: 'managed'; readonly socket: string; readonly id: string; readonly enabled: boolean }
  | { readonly kind: 'legacy'; readonly socket: string; /** Why it is not taken for a managed plugin. */ readonly why: string };

/** Reads `docker plugin inspect` output; an Error when it is not one plugin's description. */
export function parsePluginInspect(output: string): Extract<PluginLocation, { kind: 'managed' }> | Error {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch {
    return new Error('docker plugin inspect did not print JSON');
  }
  const parsed = inspectSchema.safeParse(json);
  if (!parsed.success) return new Error('docker plugin inspect did not describe one plugin with an id and a socket');
  const [plugin] = parsed.data;
  return { kind: 'managed', socket: `/run/docker/plugins/${plugin!.Id}/${plugin!.Config.Interface.Socket}`, id: plugin!.Id, enabled: plugin!.Enabled };
}

/** Resolves with docker's stdout, or an Error carrying its complaint (no such plugin, no daemon, no docker CLI). */
export type PluginInspector = (name: string) => Promise<string | Error>;

const INSPECT_TIMEOUT_MS = 15_000;

/** The docker CLI, so DOCKER_HOST and contexts apply as they do for the admin's own docker commands. */
export const dockerPluginInspect: PluginInspector = (name) =>
  new Promise((resolve) => {
    execFile('docker', ['plugin', 'inspect', '--', name], { timeout: INSPECT_TIMEOUT_MS, maxBuffer: 4 * 2 ** 20 }, (error, stdout, stderr) => {
      if (!error) resolve(stdout);
      else resolve(new Error(stderr.trim().split('\n').at(-1) || error.message));
    });
  });

export async function locatePlugin(name: string, inspect: PluginInspector = dockerPluginInspect): Promise<PluginLocation> {
  const legacy = (why: string): PluginLocation => ({ kind: 'legacy', socket: `/run/docker/plugins/${name}.sock`, why });
  const output = await inspect(name);
  if (output instanceof Error) return legacy(`docker plugin inspect: ${output.message}`);
  const managed = parsePluginInspect(output);
  return managed instanceof Error ? legacy(managed.message) : managed;
}
