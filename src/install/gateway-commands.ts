import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings } from '../config/settings';
import { gatewayCaFiles } from '../gateway/ca-files';
import { renderDaemonJson } from './daemon-config';
import { readDaemonConfig, readOptionalFile, replaceFile, writeDaemonJson } from './daemon-json-file';
import { engineVersion } from './engine-version';
import {
  addGatewayProxy,
  certificateDirectoryProblem,
  conflictingDropIns,
  engineReadsDaemonJsonProxies,
  GATEWAY_DROP_IN,
  gatewayProxyUrl,
  parseGatewayReceipt,
  removeGatewayProxy,
  renderGatewayDropIn,
  type GatewayReceipt,
} from './gateway-config';
import { InstallError, type InstallIo } from './install-io';

export const GATEWAY_INSTALL_USAGE = `  image-access install   --gateway HOST:PORT [--state-dir DIR] [--daemon-json PATH] [--systemd-dir DIR]
                         [--engine-version X.Y | --docker-socket PATH]
  image-access uninstall --gateway [--systemd-dir DIR]
      point dockerd at the registry gateway (HOST:PORT default: IMAGE_ACCESS_GATEWAY): daemon.json
      proxies.https-proxy on engines 23.0+, else HTTPS_PROXY, and always SSL_CERT_DIR with the gateway CA, in the
      drop-in DIR/${GATEWAY_DROP_IN} (default DIR /etc/systemd/system/docker.service.d); uninstall removes
      exactly what install added; either needs systemctl daemon-reload && systemctl restart docker`;

const SHARED = {
  'systemd-dir': { type: 'string', default: '/etc/systemd/system/docker.service.d' },
} as const;
const INSTALL_OPTIONS = {
  ...SHARED,
  gateway: { type: 'string' },
  'state-dir': { type: 'string' },
  'daemon-json': { type: 'string', default: '/etc/docker/daemon.json' },
  'engine-version': { type: 'string' },
  'docker-socket': { type: 'string', default: '/var/run/docker.sock' },
} as const;
const UNINSTALL_OPTIONS = { ...SHARED, gateway: { type: 'boolean' } } as const;

const PROBE_TIMEOUT_MS = 5000;
const RESTART =
  'restart dockerd for this to take effect: systemctl daemon-reload && systemctl restart docker. A reload (SIGHUP) is not ' +
  'enough: dockerd reads its proxy and the certificates it trusts only when it starts.';

/** Whether `install`/`uninstall` arguments ask for the gateway configuration rather than the plugin chain. */
export const wantsGateway = (args: readonly string[]): boolean => args.some((arg) => arg === '--gateway' || arg.startsWith('--gateway='));

export function runGatewayInstallCommand(command: 'install' | 'uninstall', args: readonly string[], io: InstallIo): Promise<void> {
  return command === 'install' ? installGateway(args, io) : uninstallGateway(args, io);
}

function parse<T extends typeof INSTALL_OPTIONS | typeof UNINSTALL_OPTIONS>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new InstallError((error as Error).message);
  }
}

/** A bare `--gateway` (parseArgs has no optional values) leaves the address to the plugin's setting, IMAGE_ACCESS_GATEWAY. */
const withoutBareGateway = (args: readonly string[]): string[] =>
  args.filter((arg, i) => !(arg === '--gateway' && (i + 1 >= args.length || args[i + 1]!.startsWith('-'))));

async function installGateway(args: readonly string[], io: InstallIo): Promise<void> {
  const values = parse(withoutBareGateway(args), INSTALL_OPTIONS);
  // The plugin's own settings and parsers: the same address and state directory as the running gateway.
  const flags = [...(values.gateway === undefined ? [] : ['--gateway', values.gateway]), ...(values['state-dir'] === undefined ? [] : ['--state-dir', values['state-dir']])];
  const { gateway: address, stateDir } = loadSettings(io.env ?? {}, flags);
  if (address === undefined) throw new InstallError('--gateway needs the gateway address, HOST:PORT (or set IMAGE_ACCESS_GATEWAY as for the plugin)');
  const ca = gatewayCaFiles(stateDir);
  const pathProblem = certificateDirectoryProblem(ca.certificateDirectory);
  if (pathProblem) throw new InstallError(`the state directory will not do: ${pathProblem}`);
  if (!statSync(ca.certificate, { throwIfNoEntry: false })) {
    throw new InstallError(`no gateway CA in ${ca.certificateDirectory}: start the plugin with IMAGE_ACCESS_GATEWAY first (it makes the CA there), then install`);
  }
  const url = gatewayProxyUrl(address);
  // A proxy that does not answer fails every pull and build on the host: the gateway must be up first.
  const unreachable = await probeTcp(address.host, address.port, PROBE_TIMEOUT_MS);
  if (unreachable) throw new InstallError(`nothing answers on ${url} (${unreachable}); start the plugin with the gateway first, nothing changed`);

  const version = values['engine-version'] ? { version: values['engine-version'], source: '--engine-version' } : await engineVersion(values['docker-socket'], PROBE_TIMEOUT_MS);
  if (typeof version === 'string') throw new InstallError(`cannot tell the Docker Engine version: ${version}; give it with --engine-version`);
  const inDaemonJson = engineReadsDaemonJsonProxies(version.version);
  if (inDaemonJson instanceof Error) throw new InstallError(inDaemonJson.message);

  const dropInDir = values['systemd-dir'];
  const dropInPath = join(dropInDir, GATEWAY_DROP_IN);
  const dropIns = readDropIns(dropInDir);
  const conflicts = conflictingDropIns(dropIns);
  if (conflicts.length > 0) {
    throw new InstallError(
      `${conflicts.map((name) => join(dropInDir, name)).join(', ')} already set${conflicts.length === 1 ? 's' : ''} HTTPS_PROXY or SSL_CERT_DIR for dockerd; ` +
        'one of the two settings would silently lose. Merge by hand or remove it first; nothing changed',
    );
  }
  const previous = dropIns.find((file) => file.name === GATEWAY_DROP_IN);
  const previousReceipt = previous ? parseGatewayReceipt(previous.text) : undefined;

  const daemonJson = values['daemon-json'];
  const ours = previousReceipt?.daemonJson === daemonJson ? previousReceipt.httpsProxy : undefined;
  const edit = inDaemonJson ? addGatewayProxy(readDaemonConfig(daemonJson).document, url, ours) : undefined;
  if (edit instanceof Error) throw new InstallError(`${edit.message}; nothing changed`);
  const receipt: GatewayReceipt | undefined = inDaemonJson ? { daemonJson, httpsProxy: url } : undefined;
  const dropIn = renderGatewayDropIn({ certificateDirectory: ca.certificateDirectory, ...(inDaemonJson ? {} : { environmentProxy: url }), ...(receipt ? { receipt } : {}) });

  io.out(`Docker Engine ${version.version} (from ${version.source}): ${inDaemonJson ? 'proxy in daemon.json' : 'proxy in the environment (daemon.json proxies need 23.0)'}`);
  // The drop-in (the receipt) first: should the daemon.json write fail, uninstall still knows what to look for.
  const dropInChanged = previous?.text !== dropIn;
  if (!dropInChanged) io.out(`${dropInPath} already says this; unchanged`);
  else {
    mkdirSync(dropInDir, { recursive: true, mode: 0o755 });
    replaceFile(dropInPath, dropIn, 0o644);
    io.out(`wrote ${dropInPath}: SSL_CERT_DIR adds ${ca.certificateDirectory}${inDaemonJson ? '' : `, HTTPS_PROXY=${url}`}`);
  }
  if (edit?.changed) {
    const backup = writeDaemonJson(daemonJson, renderDaemonJson(edit.document), io.now());
    io.out(`set proxies.https-proxy to ${url} in ${daemonJson}${backup ? ` (previous file kept as ${backup})` : ''}`);
  } else if (edit) io.out(`${daemonJson} already sends HTTPS through ${url}; unchanged`);
  if (dropInChanged || edit?.changed) io.out(RESTART);
}

async function uninstallGateway(args: readonly string[], io: InstallIo): Promise<void> {
  const values = parse(args, UNINSTALL_OPTIONS);
  const dropInPath = join(values['systemd-dir'], GATEWAY_DROP_IN);
  const dropIn = readOptionalFile(dropInPath);
  if (dropIn === undefined) {
    io.out(`${dropInPath} does not exist: the gateway is not installed; nothing changed`);
    return;
  }
  const receipt = parseGatewayReceipt(dropIn);
  if (receipt) {
    const edit = removeGatewayProxy(readDaemonConfig(receipt.daemonJson).document, receipt.httpsProxy);
    if (edit instanceof Error) throw new InstallError(`${edit.message}; nothing changed`);
    if (edit.changed) {
      const backup = writeDaemonJson(receipt.daemonJson, renderDaemonJson(edit.document), io.now());
      io.out(`removed proxies.https-proxy ${receipt.httpsProxy} from ${receipt.daemonJson}${backup ? ` (previous file kept as ${backup})` : ''}`);
    } else {
      io.out(`${receipt.daemonJson}'s proxies.https-proxy is no longer ${receipt.httpsProxy}; left as it is`);
    }
  }
  rmSync(dropInPath, { force: true });
  io.out(`removed ${dropInPath}`);
  io.out(RESTART);
}

/** The unit's drop-ins: systemd reads the `.conf` files of the directory. */
function readDropIns(dir: string): Array<{ name: string; text: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => name.endsWith('.conf')).map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }));
}

/** Resolves with a problem description, or undefined once something accepts a TCP connection on host:port. */
function probeTcp(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    });
    socket.once('error', (error) => resolve(error.message));
  });
}
