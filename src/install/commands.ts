import { parseArgs } from 'node:util';
import { addAuthorizationPlugin, removeAuthorizationPlugin, renderDaemonConfig, type ConfigEdit, type DaemonConfig } from './daemon-config';
import { readDaemonConfig, writeDaemonJson } from './daemon-json-file';
import { daemonPid, reloadDaemon } from './daemon-reload';
import { GATEWAY_INSTALL_USAGE, runGatewayInstallCommand, wantsGateway } from './gateway-commands';
import { InstallError, type InstallIo } from './install-io';
import { probeAuthzPlugin } from './plugin-probe';
import { locatePlugin } from './plugin-socket';

export { InstallError, type InstallIo } from './install-io';

export const INSTALL_USAGE = `  image-access install   [--name NAME] [--socket PATH] [--daemon-json PATH] [--reload [--pidfile PATH]]
  image-access uninstall [--name NAME] [--daemon-json PATH] [--reload [--pidfile PATH]]
      add/remove plugin NAME (default image-access) in daemon.json's authorization-plugins (default
      /etc/docker/daemon.json), keeping a backup; install first checks that the plugin answers on its socket
      (default: a managed plugin's, from docker plugin inspect NAME, else /run/docker/plugins/NAME.sock);
      --reload sends SIGHUP to dockerd (pid from --pidfile, default /var/run/docker.pid)
${GATEWAY_INSTALL_USAGE}`;

const OPTIONS = {
  name: { type: 'string', default: 'image-access' },
  socket: { type: 'string' },
  'daemon-json': { type: 'string', default: '/etc/docker/daemon.json' },
  reload: { type: 'boolean', default: false },
  pidfile: { type: 'string', default: '/var/run/docker.pid' },
} as const;

const PROBE_TIMEOUT_MS = 5000;

type Command = 'install' | 'uninstall';

/** `image-access install|uninstall`: edits daemon.json for a host-process (legacy) or managed plugin. */
export async function runInstallCommand(command: Command, args: readonly string[], io: InstallIo): Promise<void> {
  if (wantsGateway(args)) return runGatewayInstallCommand(command, args, io);
  const { values } = parseOptions(args);
  const daemonJson = values['daemon-json'];
  const config = readDaemonConfig(daemonJson);
  // Resolve the pid before touching anything, so a wrong --pidfile changes nothing.
  const pid = values.reload ? daemonPid(values.pidfile) : undefined;
  if (typeof pid === 'string') throw new InstallError(`cannot reload dockerd: ${pid}`);

  if (command === 'install') {
    // A plugin the daemon cannot reach stops dockerd from starting, and makes a running one exit on reload.
    const socket = values.socket ?? (await pluginSocket(values.name, io));
    const problem = await probeAuthzPlugin(socket, PROBE_TIMEOUT_MS);
    if (problem) throw new InstallError(`plugin ${values.name} does not answer on ${socket} (${problem}); start it before installing, daemon.json left unchanged`);
  }
  const edit = command === 'install' ? addAuthorizationPlugin(config, values.name) : removeAuthorizationPlugin(config, values.name);
  applyEdit(edit, daemonJson, values.name, command, io);

  if (pid === undefined) {
    if (edit.changed) io.out(`restart dockerd or send it SIGHUP for this to take effect`);
    return;
  }
  const failure = await reloadDaemon(pid);
  if (failure) throw new InstallError(failure);
  io.out(`reloaded dockerd (pid ${pid})`);
}

/** A managed plugin's socket as dockerd reports it, else the legacy one; the admin never types the plugin's id. */
async function pluginSocket(name: string, io: InstallIo): Promise<string> {
  const location = await locatePlugin(name, io.inspectPlugin);
  if (location.kind === 'legacy') {
    io.out(`no managed plugin ${name} (${location.why}): looking for a legacy plugin on ${location.socket}`);
    return location.socket;
  }
  if (!location.enabled) throw new InstallError(`managed plugin ${name} is disabled: docker plugin enable ${name} first; daemon.json left unchanged`);
  io.out(`managed plugin ${name} (id ${location.id.slice(0, 12)}) listens on ${location.socket}`);
  return location.socket;
}

function parseOptions(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new InstallError((error as Error).message);
  }
}

function applyEdit(edit: ConfigEdit, path: string, name: string, command: Command, io: InstallIo): void {
  const chain = (config: DaemonConfig) => JSON.stringify(config.plugins);
  if (!edit.changed) {
    io.out(`${path} ${command === 'install' ? 'already lists' : 'does not list'} ${name} (authorization-plugins ${chain(edit.config)}); nothing changed`);
    return;
  }
  const backup = writeDaemonJson(path, renderDaemonConfig(edit.config), io.now());
  io.out(`${command === 'install' ? 'added' : 'removed'} ${name} ${command === 'install' ? 'to' : 'from'} ${path}: authorization-plugins ${chain(edit.config)}${backup ? ` (previous file kept as ${backup})` : ''}`);
}
