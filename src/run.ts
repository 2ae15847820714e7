import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import { createLogger, type Logger } from './audit/logger';
import { Authorizer, type AuthorizerDeps } from './authorizer';
import { explainPull, type Explanation, type NotJudged } from './commands/explain';
import { codeCacheStatus } from './code-cache-status';
import type { Settings } from './config/settings';
import type { IdentityResolver } from './identity/identity';
import { organizationResolver, type OrganizationResolver } from './identity/organization';
import { identityResolver } from './identity/resolver';
import { settingsAgents } from './network/outbound-settings';
import { daemonRegistryMirrors, parseDaemonConfig } from './install/daemon-config';
import { readOptionalFile } from './install/daemon-json-file';
import { IGNORE_REMOTE, type DecisionObserver, type RemoteObserver } from './observability/events';
import { createObservability } from './observability/observability';
import { DEMO_NOTICE } from './policy/default-policy';
import { fileSource } from './policy/file-source';
import { autoSource, demoSource, forConfiguredOrganization, hubFallbackNote } from './policy/organization-sources';
import type { RemoteSourceOptions } from './policy/cache';
import { HubBadges, hubClient, withHubBadges } from './policy/hub-badges';
import { HubPolicySource } from './policy/hub-source';
import { UrlPolicySource } from './policy/url-source';
import type { PolicySource } from './policy/source';
import { createPluginServer } from './protocol/server';
import { closeServer, listenOnUnixSocket, releaseSocketPath } from './protocol/socket';
import { cachingHostResolver } from './reference/host-resolver';
import { parseHubMirrors, registryHostKey } from './reference/reference';
import { tieringUpAtFirstCall } from './tier-up';

function remoteSourceOptions(settings: Settings, logger: Logger, clock: () => number, observer: RemoteObserver): RemoteSourceOptions {
  const { cacheTtlMs: ttlMs, staleMaxMs, decisionTimeoutMs } = settings;
  return { ttlMs, staleMaxMs, decisionTimeoutMs, logger, clock, observer, agents: settingsAgents(settings) };
}

/**
 * `organization` is IMAGE_ACCESS_ORG or registry.json's: the organisation whose policy applies, whatever the source.
 * Says at start which policy that is when it is not the configured organisation's own (the demo).
 */
export function createPolicySource(
  settings: Settings,
  logger: Logger,
  clock: () => number,
  organization: OrganizationResolver,
  observer: RemoteObserver = IGNORE_REMOTE,
): PolicySource {
  const location = settings.policy;
  // Only remote sources need the outbound agents (and a CA bundle that can be read).
  const remote = () => remoteSourceOptions(settings, logger, clock, observer);
  const hub = () => new HubPolicySource({ ...remote(), hubUrl: settings.hubUrl, organization });
  // A document's badges are learnt from the Hub; the demo stays offline (`make run`) with its own catalogue.
  const learnBadges = (source: PolicySource) => {
    const options = remote();
    return withHubBadges(source, new HubBadges(hubClient(settings.hubUrl, options), options, Math.floor(settings.decisionTimeoutMs / 2)));
  };
  switch (location.kind) {
    case 'auto':
      if (settings.org !== undefined) logger.info(hubFallbackNote(settings.org));
      else if (settings.registryJson === undefined) logger.warn(`no organization is configured (IMAGE_ACCESS_ORG or registry.json): ${DEMO_NOTICE}`);
      else {
        logger.info(
          `IMAGE_ACCESS_POLICY is not set: the policy of the organization named by ${organization.origin} is read from Docker Hub; ` +
            'while it names none, the embedded demo policy applies',
        );
      }
      return autoSource(organization, hub(), demoSource(organization, clock()));
    case 'builtin':
      logger.warn(`embedded demo policy in force: ${DEMO_NOTICE}`);
      return demoSource(organization, clock());
    case 'file':
      return forConfiguredOrganization(learnBadges(fileSource(location.path, logger, clock)), organization);
    case 'hub':
      return hub();
    case 'url': {
      const source = new UrlPolicySource({ ...remote(), url: location.url });
      source.warmSoon();
      return forConfiguredOrganization(learnBadges(source), organization);
    }
  }
}

export function createIdentityResolver(settings: Settings, logger: Logger, clock: () => number): IdentityResolver {
  return identityResolver({ sources: settings.identitySources, dockerConfig: settings.dockerConfig, user: settings.user, logger, clock });
}

export interface PluginCore {
  readonly authorizer: Authorizer;
  /** The registry mirrors judged as Docker Hub: IMAGE_ACCESS_HUB_MIRRORS and dockerd's own. */
  readonly hubMirrors: ReadonlySet<string>;
  readonly policySource: PolicySource;
  readonly identity: IdentityResolver;
  /** `docker pull IMAGE` judged and explained, seen by no observer: `image-access check`, `GET /check`. */
  explain(image: string, user?: string): Promise<Explanation | NotJudged>;
  close(): void;
}

export interface CoreOptions {
  readonly observers?: readonly DecisionObserver[];
  /** Told of the policy source's remote calls and cache lookups: the metrics. */
  readonly remote?: RemoteObserver;
  /** Whether the decision just made has its audit line: the audit log's. */
  readonly audited?: () => boolean;
  /** Replaces the configured identity sources. */
  readonly identity?: IdentityResolver;
}

/** The policy source, identity resolver and Authorizer the settings call for: the plugin's and `image-access check`'s. */
export function createPluginCore(settings: Settings, logger: Logger, clock: () => number, options: CoreOptions = {}): PluginCore {
  const organization = organizationResolver({ org: settings.org, registryJson: settings.registryJson, logger });
  const policySource = createPolicySource(settings, logger, clock, organization, options.remote);
  const identity = options.identity ?? createIdentityResolver(settings, logger, clock);
  const mirrors = [...settings.hubMirrors, ...daemonMirrors(settings.daemonJson, logger)];
  const mirrorKeys = new Set(mirrors.map(registryHostKey));
  const deps: AuthorizerDeps = {
    policySource,
    identity,
    logger,
    mode: settings.mode,
    failMode: settings.failMode,
    routes: settings,
    decisionTimeoutMs: settings.decisionTimeoutMs,
    signIn: { mode: settings.requireSignIn, organization },
    hubMirrors: mirrors,
    hostResolver: cachingHostResolver({ logger, clock }),
    ...(settings.adminContact === undefined ? {} : { adminContact: settings.adminContact }),
    mirrorsAroundGateway: mirrorsAroundGateway(settings, mirrorKeys, logger),
    clock,
    observers: options.observers ?? [],
    ...(options.audited === undefined ? {} : { audited: options.audited }),
  };
  return {
    authorizer: new Authorizer(deps),
    hubMirrors: mirrorKeys,
    policySource,
    identity,
    explain: (image, user) => explainPull(deps, image, user),
    close: () => policySource.close(),
  };
}

/**
 * dockerd's own registry mirrors, read once at start: a pull that names a mirror directly is a Docker Hub pull under
 * another name. A daemon.json that cannot be read costs only this, with a warning: the plugin must start.
 */
function daemonMirrors(path: string | undefined, logger: Logger): readonly string[] {
  if (path === undefined) return [];
  let text: string | undefined;
  try {
    text = readOptionalFile(path);
  } catch (error) {
    logger.warn('daemon.json not read; its registry mirrors are not known', { path, error: (error as NodeJS.ErrnoException).code ?? String(error) });
    return [];
  }
  const parsed = parseDaemonConfig(text);
  const mirrors = parsed.ok ? daemonRegistryMirrors(parsed.config) : new Error(parsed.error);
  const hosts = mirrors instanceof Error ? mirrors : parseHubMirrors(mirrors.join(','));
  if (hosts instanceof Error) {
    logger.warn('daemon.json registry mirrors not used', { path, error: hosts.message });
    return [];
  }
  if (hosts.length > 0) logger.info('registry mirrors from daemon.json are judged as Docker Hub', { path, mirrors: hosts });
  return hosts;
}

/** Beyond the decision timeout, for reading a request and writing its reply when the process stops. */
const STOP_MARGIN_MS = 1_000;

/**
 * dockerd's registry mirrors that the registry gateway does not front. dockerd reaches a mirror before Docker Hub,
 * and a loopback or plain-http one directly (Go never proxies loopback), so what builders fetch through it is unseen.
 */
function mirrorsAroundGateway(settings: Settings, mirrorKeys: ReadonlySet<string>, logger: Logger): string[] {
  if (settings.gateway === undefined) return [];
  const { host, port } = settings.gateway;
  const gateway = registryHostKey(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  const around = [...mirrorKeys].filter((mirror) => mirror !== gateway);
  if (around.length > 0) {
    logger.error('registry mirrors bypass the registry gateway: builds are refused for non-owners until the gateway fronts them', {
      mirrors: around,
      fix: `daemon.json "registry-mirrors": ["http://${gateway}"] and IMAGE_ACCESS_HUB_REGISTRY set to the mirror`,
    });
  }
  return around;
}

export interface RunningPlugin {
  readonly server: Server;
  stop(): Promise<void>;
}

/** Starts the plugin: everything that touches sockets, files, signals and the clock is wired here. */
export async function startPlugin(settings: Settings, logger: Logger = createLogger(settings.logLevel, settings.logStreams)): Promise<RunningPlugin> {
  // Epoch milliseconds with sub-millisecond precision, for the decision latency histogram.
  // (process.hrtime, not the global performance: that loads perf_hooks, ~10% of what the plugin does before it listens.)
  const started = process.hrtime.bigint();
  const startedAt = Date.now();
  const clock = () => startedAt + Number(process.hrtime.bigint() - started) / 1e6;
  const observability = createObservability(settings, logger, clock);
  const core = createPluginCore(settings, logger, clock, { observers: observability.observers, remote: observability.remote, audited: observability.audited });
  const { policySource } = core;
  const server = createPluginServer(tieringUpAtFirstCall(core.authorizer), logger);
  await observability.start(core);
  // Required only when on: the gateway's X.509 library is a share of start-up.
  const gateway =
    settings.gateway === undefined
      ? undefined
      : await (require('./gateway/start') as typeof import('./gateway/start')).startRegistryGateway(settings, core.authorizer, core.hubMirrors, logger, clock);
  await listenOnUnixSocket(server, settings.socket);
  const socketInode = statSync(settings.socket).ino;
  const codeCache = codeCacheStatus();
  logger.info('image-access listening', { socket: settings.socket, policy: policySource.describe, mode: settings.mode, ...(codeCache && { codeCache }) });
  return {
    server,
    stop: async () => {
      // Stop accepting first (the daemon's next calls wait for the next process and arrive whole), answer what is in
      // flight with the policy source and the audit log still open, then close those.
      const graceMs = settings.decisionTimeoutMs + STOP_MARGIN_MS;
      const gatewayStopped = gateway?.stop(graceMs);
      const closed = closeServer(server, graceMs);
      releaseSocketPath(settings.socket, socketInode);
      await Promise.all([closed, gatewayStopped]);
      core.close();
      await observability.stop();
    },
  };
}
