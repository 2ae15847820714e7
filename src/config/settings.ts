/**
 * Every setting is an environment variable (so `docker plugin set` works on the managed plugin) and a `--flag`.
 * This table is the single source for parsing, `--help` and the managed-plugin manifest's `env` list.
 */

import { parseProxyUrl } from '../network/proxy';
import { MAX_CONTACT_CHARS, ONE_LINE } from '../policy/policy';
import { parseHubMirrors } from '../reference/reference';

export type FailMode = 'closed' | 'open';
export type EnforcementMode = 'enforce' | 'warn';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
/** `split`: info and debug on stdout, warn and error on stderr (dockerd logs a managed plugin's stdout at level=info, its stderr at level=error). */
export type LogStreams = 'stderr' | 'split';
/** A TCP address on this machine's loopback: the only place listeners without authentication may serve. */
export interface LoopbackAddress {
  readonly kind: 'tcp';
  readonly host: string;
  readonly port: number;
}
/** The admin listener (/metrics, /healthz, /status): a loopback TCP address or a unix socket. */
export type AdminListen = LoopbackAddress | { readonly kind: 'unix'; readonly path: string };
/** Where the signed-in user may be learnt from; asked in the configured order, the first that knows wins. */
export const IDENTITY_SOURCES = ['registry-auth', 'tls', 'docker-config', 'provisioned'] as const;
export type IdentitySourceName = (typeof IDENTITY_SOURCES)[number];
/** Enforced sign-in: `auto` is on once an organisation is known (IMAGE_ACCESS_ORG or registry.json). */
export type RequireSignIn = 'auto' | 'on' | 'off';
/**
 * `auto` = the configured organisation's policy on Docker Hub, or the embedded demo policy when no organisation is
 * configured; `builtin` = the embedded demo policy; `hub` = live Docker Hub; otherwise a file path or an https URL.
 */
export type PolicyLocation =
  | { readonly kind: 'auto' }
  | { readonly kind: 'builtin' }
  | { readonly kind: 'hub' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string };

export interface Settings {
  readonly socket: string;
  readonly policy: PolicyLocation;
  readonly org: string | undefined;
  readonly hubUrl: string;
  readonly dockerConfig: string;
  readonly identitySources: readonly IdentitySourceName[];
  readonly user: string | undefined;
  readonly registryJson: string | undefined;
  readonly requireSignIn: RequireSignIn;
  readonly allowImport: boolean;
  readonly allowLoad: boolean;
  readonly allowBuild: boolean;
  readonly protectPlugin: boolean;
  readonly pluginName: string;
  readonly hubMirrors: readonly string[];
  readonly daemonJson: string | undefined;
  readonly failMode: FailMode;
  readonly adminContact: string | undefined;
  readonly cacheTtlMs: number;
  readonly staleMaxMs: number;
  readonly decisionTimeoutMs: number;
  readonly mode: EnforcementMode;
  readonly logLevel: LogLevel;
  readonly logStreams: LogStreams;
  readonly httpsProxy: URL | undefined;
  readonly httpProxy: URL | undefined;
  readonly noProxy: string;
  readonly caBundle: string | undefined;
  readonly stateDir: string;
  readonly auditLog: string | undefined;
  readonly auditMaxBytes: number;
  readonly auditFiles: number;
  readonly metrics: AdminListen | undefined;
  readonly gateway: LoopbackAddress | undefined;
  readonly hubRegistry: string;
}

interface SettingSpec<K extends keyof Settings> {
  readonly key: K;
  readonly env: string;
  readonly description: string;
  readonly default: string;
  /** The managed plugin's default (config.json), where it differs from the host process's. */
  readonly managedDefault?: string;
  /** Returns the value, or an error message. */
  readonly parse: (raw: string) => Settings[K] | Error;
}

function oneOf<T extends string>(...values: readonly T[]) {
  return (raw: string): T | Error =>
    (values as readonly string[]).includes(raw) ? (raw as T) : new Error(`must be one of ${values.join(', ')}`);
}

const DURATION = /^(\d+)(ms|s|m|h)?$/;
const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `300`, `300s`, `5m`, `1h`, `250ms`; a bare number is seconds. */
export function parseDuration(raw: string): number | Error {
  const match = DURATION.exec(raw.trim());
  if (!match) return new Error('must be a duration such as 300, 30s, 5m or 1h');
  return Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? 's'] ?? 1000);
}

function parseHttpsUrl(raw: string): URL | Error {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return new Error('must be a URL');
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  // Plain http only to loopback: a policy fetched in clear over a network could be rewritten in transit.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return new Error('must be an https URL (http is accepted only for loopback)');
  }
  return url;
}

function parsePolicyLocation(raw: string): PolicyLocation | Error {
  if (raw === '' || raw === 'auto') return { kind: 'auto' };
  if (raw === 'builtin') return { kind: 'builtin' };
  if (raw === 'hub') return { kind: 'hub' };
  if (/^[a-z]+:\/\//i.test(raw)) {
    const url = parseHttpsUrl(raw);
    return url instanceof Error ? url : { kind: 'url', url: url.toString() };
  }
  if (!raw.startsWith('/')) return new Error('must be auto, builtin, hub, an absolute file path or an https URL');
  return { kind: 'file', path: raw };
}

const optional = (raw: string): string | undefined => (raw === '' ? undefined : raw);

/** `true`/`false`, and the usual spellings `1`, `yes`, `on` / `0`, `no`, `off`. */
export function parseBoolean(raw: string): boolean | Error {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  return new Error('must be true or false');
}

/** One short line, repeated in every denial. */
function parseContact(raw: string): string | undefined | Error {
  const contact = raw.trim();
  if (contact === '') return undefined;
  return contact.length <= MAX_CONTACT_CHARS && ONE_LINE.test(contact) ? contact : new Error(`must be one line of at most ${MAX_CONTACT_CHARS} characters`);
}

function absolutePath(raw: string): string | Error {
  return raw.startsWith('/') ? raw : new Error('must be an absolute path');
}

/** An absolute path, or empty for none. */
function optionalAbsolutePath(raw: string): string | undefined | Error {
  return raw === '' ? undefined : absolutePath(raw);
}

function parseIdentitySources(raw: string): IdentitySourceName[] | Error {
  const names = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.find((name) => !(IDENTITY_SOURCES as readonly string[]).includes(name));
  if (unknown !== undefined) return new Error(`names an unknown identity source "${unknown}" (known: ${IDENTITY_SOURCES.join(', ')})`);
  if (new Set(names).size !== names.length) return new Error('names an identity source twice');
  if (names.length === 0) return new Error('must name at least one identity source');
  return names as IdentitySourceName[];
}

/** A Docker ID (lowercase letters and digits; `.`, `_` and `-` tolerated for other Hub-compatible registries). */
function parseDockerId(raw: string): string | undefined | Error {
  const id = raw.trim().toLowerCase();
  if (id === '') return undefined;
  return /^[a-z0-9][a-z0-9._-]{0,254}$/.test(id) ? id : new Error('must be a Docker ID (letters and digits)');
}

const BYTE_SIZE = /^(\d+)\s*(B|K|KiB|M|MiB|G|GiB)?$/i;
const BYTE_UNIT: Readonly<Record<string, number>> = { b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** `1048576`, `512K`, `10MiB`, `1G` (binary units). */
export function parseByteSize(raw: string): number | Error {
  const match = BYTE_SIZE.exec(raw.trim());
  const bytes = match ? Number(match[1]) * (BYTE_UNIT[(match[2] ?? 'b').toLowerCase()] ?? 1) : 0;
  return bytes >= 1024 && Number.isSafeInteger(bytes) ? bytes : new Error('must be a size of at least 1KiB, such as 512K or 10MiB');
}

function integerBetween(min: number, max: number) {
  return (raw: string): number | Error =>
    /^\d+$/.test(raw.trim()) && Number(raw) >= min && Number(raw) <= max ? Number(raw) : new Error(`must be a whole number from ${min} to ${max}`);
}

/**
 * `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` (any 127/8 address): a TCP listener this machine alone can reach,
 * for listeners that have no authentication.
 */
export function parseLoopbackHostPort(raw: string): { readonly host: string; readonly port: number } | Error {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(raw);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) return new Error('must be HOST:PORT on loopback (e.g. 127.0.0.1:9323)');
  const host = match[1]! === 'localhost' ? '127.0.0.1' : match[1]!.replace(/^\[(.*)\]$/, '$1');
  const loopback = host === '::1' || /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host);
  if (!loopback) return new Error('must be a loopback address (127.0.0.1, localhost or [::1]): the listener has no authentication');
  return { host, port };
}

/**
 * `127.0.0.1:9323`, `localhost:9323`, `[::1]:9323` or an absolute unix socket path. Loopback only: the listener
 * has no authentication, and what it tells (the policy, who is signed in) is for this machine's tooling.
 */
function parseAdminListen(raw: string): AdminListen | undefined | Error {
  if (raw === '') return undefined;
  if (raw.startsWith('/')) return { kind: 'unix', path: raw };
  const tcp = parseLoopbackHostPort(raw);
  return tcp instanceof Error ? new Error(`${tcp.message}; or an absolute unix socket path`) : { kind: 'tcp', ...tcp };
}

/** The registry gateway: loopback only, since anyone who reaches it can pull through it as this machine. */
function parseGateway(raw: string): LoopbackAddress | undefined | Error {
  if (raw === '') return undefined;
  const tcp = parseLoopbackHostPort(raw);
  return tcp instanceof Error ? tcp : { kind: 'tcp', ...tcp };
}

/** An origin (`https://registry-1.docker.io`), no path: plain http only to loopback, as for policy URLs. */
function parseRegistryOrigin(raw: string): string | Error {
  const url = parseHttpsUrl(raw);
  if (url instanceof Error) return url;
  if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
    return new Error('must be a registry origin such as https://registry-1.docker.io, without path, query or credentials');
  }
  return url.origin;
}

export const SETTINGS = [
  {
    key: 'socket',
    env: 'IMAGE_ACCESS_SOCKET',
    description: 'Unix socket the plugin serves (the daemon finds /run/docker/plugins/NAME.sock as plugin NAME)',
    default: '/run/docker/plugins/image-access.sock',
    parse: absolutePath,
  } satisfies SettingSpec<'socket'>,
  {
    key: 'policy',
    env: 'IMAGE_ACCESS_POLICY',
    description:
      "Policy source: auto (the organization's policy on Docker Hub; with no organization configured, the embedded demo policy), builtin (the embedded demo policy), hub (live Docker Hub), a policy file path, or an https URL",
    default: 'auto',
    parse: parsePolicyLocation,
  } satisfies SettingSpec<'policy'>,
  {
    key: 'org',
    env: 'IMAGE_ACCESS_ORG',
    description: "Docker Hub organization whose policy applies (default: registry.json allowedOrgs); a policy file or URL for another organization is not enforced",
    default: '',
    parse: (raw) => optional(raw.toLowerCase()),
  } satisfies SettingSpec<'org'>,
  {
    key: 'hubUrl',
    env: 'IMAGE_ACCESS_HUB_URL',
    description: 'Docker Hub API base URL',
    default: 'https://hub.docker.com',
    parse: (raw) => {
      const url = parseHttpsUrl(raw);
      return url instanceof Error ? url : url.toString().replace(/\/+$/, '');
    },
  } satisfies SettingSpec<'hubUrl'>,
  {
    key: 'dockerConfig',
    env: 'IMAGE_ACCESS_DOCKER_CONFIG',
    description: "Docker CLI config directory holding the machine's Docker Hub sign-in (config.json)",
    default: '/root/.docker',
    parse: absolutePath,
  } satisfies SettingSpec<'dockerConfig'>,
  {
    key: 'identitySources',
    env: 'IMAGE_ACCESS_IDENTITY_SOURCES',
    description: `Where to learn who is signed in, first that knows wins, comma-separated: ${IDENTITY_SOURCES.join(', ')}`,
    default: IDENTITY_SOURCES.join(','),
    parse: parseIdentitySources,
  } satisfies SettingSpec<'identitySources'>,
  {
    key: 'user',
    env: 'IMAGE_ACCESS_USER',
    description: 'Docker ID provisioned for this machine by a fleet tool, used when no other identity source knows the user',
    default: '',
    parse: parseDockerId,
  } satisfies SettingSpec<'user'>,
  {
    key: 'registryJson',
    env: 'IMAGE_ACCESS_REGISTRY_JSON',
    description: "Docker Desktop's registry.json; its first allowedOrgs entry is the organization when IMAGE_ACCESS_ORG is empty",
    default: '/usr/share/docker-desktop/registry/registry.json',
    parse: optionalAbsolutePath,
  } satisfies SettingSpec<'registryJson'>,
  {
    key: 'requireSignIn',
    env: 'IMAGE_ACCESS_REQUIRE_SIGNIN',
    description: 'Enforced sign-in for Docker Hub pulls: on, off, or auto (on once an organization is set or found in registry.json)',
    default: 'auto',
    parse: oneOf<RequireSignIn>('auto', 'on', 'off'),
  } satisfies SettingSpec<'requireSignIn'>,
  {
    key: 'allowImport',
    env: 'IMAGE_ACCESS_ALLOW_IMPORT',
    description: 'Allow docker import (a filesystem archive or URL becomes an image; its origin cannot be checked)',
    default: 'false',
    parse: parseBoolean,
  } satisfies SettingSpec<'allowImport'>,
  {
    key: 'allowLoad',
    env: 'IMAGE_ACCESS_ALLOW_LOAD',
    description: 'Allow docker load and docker plugin create (uploaded image archives the plugin cannot inspect)',
    default: 'false',
    parse: parseBoolean,
  } satisfies SettingSpec<'allowLoad'>,
  {
    key: 'allowBuild',
    env: 'IMAGE_ACCESS_ALLOW_BUILD',
    description: 'Allow docker build, BuildKit and docker commit (builders pull FROM images unseen by authorization plugins)',
    default: 'true',
    parse: parseBoolean,
  } satisfies SettingSpec<'allowBuild'>,
  {
    key: 'protectPlugin',
    env: 'IMAGE_ACCESS_PROTECT_PLUGIN',
    description: 'Only organization owners may disable, remove, reconfigure or upgrade this plugin through the Docker API',
    default: 'false',
    parse: parseBoolean,
  } satisfies SettingSpec<'protectPlugin'>,
  {
    key: 'pluginName',
    env: 'IMAGE_ACCESS_PLUGIN_NAME',
    description: 'Name this plugin is installed under (docker plugin ls), for IMAGE_ACCESS_PROTECT_PLUGIN',
    default: 'image-access',
    parse: (raw) => (raw.trim() === '' ? new Error('must not be empty') : raw.trim()),
  } satisfies SettingSpec<'pluginName'>,
  {
    key: 'hubMirrors',
    env: 'IMAGE_ACCESS_HUB_MIRRORS',
    description:
      "The daemon's registry mirrors (daemon.json registry-mirrors), comma-separated: images named through them are judged as Docker Hub images",
    default: '',
    parse: parseHubMirrors,
  } satisfies SettingSpec<'hubMirrors'>,
  {
    key: 'daemonJson',
    env: 'IMAGE_ACCESS_DAEMON_JSON',
    description: "The daemon's daemon.json, read at start: its registry-mirrors are judged as Docker Hub too (empty: not read)",
    default: '/etc/docker/daemon.json',
    parse: optionalAbsolutePath,
  } satisfies SettingSpec<'daemonJson'>,
  {
    key: 'adminContact',
    env: 'IMAGE_ACCESS_ADMIN_CONTACT',
    description: "Whom a denied developer should ask (e.g. #docker-help or docker-admins@example.com), when the policy has no admin_contact",
    default: '',
    parse: parseContact,
  } satisfies SettingSpec<'adminContact'>,
  {
    key: 'failMode',
    env: 'IMAGE_ACCESS_FAIL_MODE',
    description: 'With no usable policy at all: closed denies Docker Hub pulls, open allows them',
    default: 'closed',
    parse: oneOf<FailMode>('closed', 'open'),
  } satisfies SettingSpec<'failMode'>,
  {
    key: 'cacheTtlMs',
    env: 'IMAGE_ACCESS_CACHE_TTL',
    description: 'How long a fetched policy, membership or badge is used before it is refreshed (e.g. 300, 5m)',
    default: '5m',
    parse: parseDuration,
  } satisfies SettingSpec<'cacheTtlMs'>,
  {
    key: 'staleMaxMs',
    env: 'IMAGE_ACCESS_STALE_MAX',
    description: 'While Docker Hub or the policy URL fails, how old the last good policy may get and still be used (e.g. 24h)',
    default: '24h',
    parse: parseDuration,
  } satisfies SettingSpec<'staleMaxMs'>,
  {
    key: 'decisionTimeoutMs',
    env: 'IMAGE_ACCESS_DECISION_TIMEOUT',
    description: 'Longest a pull decision waits (for Docker Hub, the policy URL, a credential helper); then the fail mode applies',
    default: '5s',
    parse: (raw) => {
      const ms = parseDuration(raw);
      return ms instanceof Error || ms > 0 ? ms : new Error('must be more than 0');
    },
  } satisfies SettingSpec<'decisionTimeoutMs'>,
  {
    key: 'mode',
    env: 'IMAGE_ACCESS_MODE',
    description: 'enforce denies what the policy forbids; warn only logs and counts would-be denials',
    default: 'enforce',
    parse: oneOf<EnforcementMode>('enforce', 'warn'),
  } satisfies SettingSpec<'mode'>,
  {
    key: 'logLevel',
    env: 'IMAGE_ACCESS_LOG_LEVEL',
    description: 'Log level: error, warn, info or debug (JSON lines; IMAGE_ACCESS_LOG_STREAMS says on which stream)',
    default: 'info',
    parse: oneOf<LogLevel>('error', 'warn', 'info', 'debug'),
  } satisfies SettingSpec<'logLevel'>,
  {
    key: 'logStreams',
    env: 'IMAGE_ACCESS_LOG_STREAMS',
    description:
      "stderr: every log line on stderr; split: info and debug on stdout, warn and error on stderr, so dockerd's log of a managed plugin says level=info or level=error as the line does",
    default: 'stderr',
    managedDefault: 'split',
    parse: oneOf<LogStreams>('stderr', 'split'),
  } satisfies SettingSpec<'logStreams'>,
  {
    key: 'httpsProxy',
    env: 'HTTPS_PROXY',
    description: 'Proxy for https to Docker Hub and a policy URL, as http://[user:pass@]host:port (CONNECT); also read as https_proxy; loopback is never proxied',
    default: '',
    parse: parseProxyUrl,
  } satisfies SettingSpec<'httpsProxy'>,
  {
    key: 'httpProxy',
    env: 'HTTP_PROXY',
    description: 'Proxy for plain http (CONNECT), as HTTPS_PROXY; also read as http_proxy',
    default: '',
    parse: parseProxyUrl,
  } satisfies SettingSpec<'httpProxy'>,
  {
    key: 'noProxy',
    env: 'NO_PROXY',
    description: 'Hosts reached without the proxy, comma-separated: name (and its subdomains), .name, IP, CIDR, any with :port, or *; also read as no_proxy',
    default: '',
    parse: (raw) => raw.trim(),
  } satisfies SettingSpec<'noProxy'>,
  {
    key: 'caBundle',
    env: 'IMAGE_ACCESS_CA_BUNDLE',
    description: "PEM file of CA certificates trusted besides Node's own for Docker Hub and a policy URL (a company proxy's or server's CA)",
    default: '',
    parse: optionalAbsolutePath,
  } satisfies SettingSpec<'caBundle'>,
  {
    key: 'stateDir',
    env: 'IMAGE_ACCESS_STATE_DIR',
    description:
      'Directory on the host kept across restarts, upgrades and reinstalls (audit log, the gateway CA, cached policy); created when first needed',
    default: '/var/lib/image-access',
    parse: absolutePath,
  } satisfies SettingSpec<'stateDir'>,
  {
    key: 'auditLog',
    env: 'IMAGE_ACCESS_AUDIT_LOG',
    description: 'File that receives one JSON line per image decision, its directory created if missing; a relative path is under IMAGE_ACCESS_STATE_DIR (empty: none)',
    default: '',
    parse: optional,
  } satisfies SettingSpec<'auditLog'>,
  {
    key: 'auditMaxBytes',
    env: 'IMAGE_ACCESS_AUDIT_MAX_BYTES',
    description: 'Size at which the audit log is rotated to FILE.1 (e.g. 512K, 10MiB)',
    default: '10MiB',
    parse: parseByteSize,
  } satisfies SettingSpec<'auditMaxBytes'>,
  {
    key: 'auditFiles',
    env: 'IMAGE_ACCESS_AUDIT_FILES',
    description: 'Rotated audit log files kept (FILE.1 .. FILE.N); 0 keeps none',
    default: '5',
    parse: integerBetween(0, 1000),
  } satisfies SettingSpec<'auditFiles'>,
  {
    key: 'metrics',
    env: 'IMAGE_ACCESS_METRICS',
    description: 'Admin listener serving /metrics (Prometheus), /healthz and /status: loopback HOST:PORT or a unix socket path (empty: none)',
    default: '',
    parse: parseAdminListen,
  } satisfies SettingSpec<'metrics'>,
  {
    key: 'gateway',
    env: 'IMAGE_ACCESS_GATEWAY',
    description:
      "Registry gateway: loopback HOST:PORT of an HTTPS proxy for dockerd that judges every Docker Hub manifest and blob fetch, builds' included (empty: off)",
    default: '',
    parse: parseGateway,
  } satisfies SettingSpec<'gateway'>,
  {
    key: 'hubRegistry',
    env: 'IMAGE_ACCESS_HUB_REGISTRY',
    description: "Where the registry gateway forwards allowed Docker Hub registry requests: Docker Hub's registry, or the mirror it fronts",
    default: 'https://registry-1.docker.io',
    parse: parseRegistryOrigin,
  } satisfies SettingSpec<'hubRegistry'>,
] as const;

/** `IMAGE_ACCESS_CACHE_TTL` -> `--cache-ttl` */
export function flagName(env: string): string {
  return `--${env.replace(/^IMAGE_ACCESS_/, '').toLowerCase().replace(/_/g, '-')}`;
}

export class SettingsError extends Error {}

/** A value quoted back in an error keeps no `user:password@` (a proxy URL's, a policy URL's). */
function withoutUserInfo(raw: string): string {
  return raw.replace(/^((?:[a-z][a-z0-9+.-]*:)?\/\/)?[^/@\s]*@/i, '$1***@');
}

/**
 * Reads settings from flags (which win) and the environment. Every problem is reported at once, so a fleet admin
 * fixes a bad configuration in one go.
 */
export function loadSettings(env: Readonly<Record<string, string | undefined>>, args: readonly string[]): Settings {
  const fromFlags = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = SETTINGS.find((s) => flagName(s.env) === name);
    if (!spec) {
      problems.push(`unknown option ${name}`);
      continue;
    }
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) problems.push(`${name} needs a value`);
    else fromFlags.set(spec.env, value);
  }
  const settings: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    // The standard variables (HTTPS_PROXY...) are read in lower case too, upper case first, as Go and dockerd do.
    const fromEnv = env[spec.env] ?? (spec.env.startsWith('IMAGE_ACCESS_') ? undefined : env[spec.env.toLowerCase()]);
    const raw = fromFlags.get(spec.env) ?? fromEnv ?? spec.default;
    const value = spec.parse(raw);
    if (value instanceof Error) problems.push(`${spec.env} (${flagName(spec.env)}) ${value.message}; got ${JSON.stringify(withoutUserInfo(raw))}`);
    else settings[spec.key] = value;
  }
  if (problems.length > 0) throw new SettingsError(problems.join('\n'));
  // One value per SETTINGS entry, each parsed by its key's own parser: the record is a Settings.
  return settings as unknown as Settings;
}

export function settingsHelp(): string {
  return SETTINGS.map(
    (s) => `  ${flagName(s.env).padEnd(16)} ${s.env.padEnd(28)} ${s.description}${s.default ? ` [default: ${s.default}]` : ''}`,
  ).join('\n');
}

/** The README's settings table (scripts/sync-manifest-env.js writes it between the `settings-table` markers). */
export function settingsMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return [
    '| Environment variable (`docker plugin set`) | Flag | Default | What it sets |',
    '| --- | --- | --- | --- |',
    ...SETTINGS.map((s) => {
      const managed = 'managedDefault' in s ? ` (managed plugin: \`${s.managedDefault}\`)` : '';
      return `| \`${s.env}\` | \`${flagName(s.env)}\` | ${s.default ? `\`${cell(s.default)}\`` : ''}${managed} | ${cell(s.description)} |`;
    }),
  ].join('\n');
}
