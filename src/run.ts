import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import { createLogger, type Logger } from './audit/logger';
import { Authorizer } from './authorizer';
import type { Settings } from './config/settings';
import { SIGNED_OUT, type IdentityResolver } from './identity/identity';
import { defaultPolicy } from './policy/default-policy';
import { fileSource, staticSource } from './policy/file-source';
import { HubPolicySource } from './policy/hub-source';
import { UrlPolicySource } from './policy/url-source';
import type { PolicySource } from './policy/source';
import { createPluginServer } from './protocol/server';
import { listenOnUnixSocket, releaseSocketPath } from './protocol/socket';

export function createPolicySource(settings: Settings, logger: Logger, clock: () => number): PolicySource {
  const location = settings.policy;
  switch (location.kind) {
    case 'builtin':
      return staticSource(defaultPolicy(settings.org), 'builtin', clock());
    case 'file':
      return fileSource(location.path, settings.org, logger, clock);
    case 'hub':
      return new HubPolicySource({
        hubUrl: settings.hubUrl,
        organization: { current: () => Promise.resolve(settings.org) },
        ttlMs: settings.cacheTtlMs,
        staleMaxMs: settings.staleMaxMs,
        decisionTimeoutMs: settings.decisionTimeoutMs,
        logger,
        clock,
      });
    case 'url': {
      const source = new UrlPolicySource({
        url: location.url,
        organization: settings.org,
        ttlMs: settings.cacheTtlMs,
        staleMaxMs: settings.staleMaxMs,
        decisionTimeoutMs: settings.decisionTimeoutMs,
        logger,
        clock,
      });
      void source.warm();
      return source;
    }
  }
}

export function createIdentityResolver(): IdentityResolver {
  return { identify: () => Promise.resolve(SIGNED_OUT) };
}

export interface RunningPlugin {
  readonly server: Server;
  stop(): Promise<void>;
}

/** Starts the plugin: everything that touches sockets, files, signals and the clock is wired here. */
export async function startPlugin(settings: Settings, logger: Logger = createLogger(settings.logLevel)): Promise<RunningPlugin> {
  const clock = () => Date.now();
  const policySource = createPolicySource(settings, logger, clock);
  const authorizer = new Authorizer({
    policySource,
    identity: createIdentityResolver(),
    logger,
    mode: settings.mode,
    failMode: settings.failMode,
    routes: settings,
    decisionTimeoutMs: settings.decisionTimeoutMs,
    clock,
  });
  const server = createPluginServer(authorizer, logger);
  await listenOnUnixSocket(server, settings.socket);
  const socketInode = statSync(settings.socket).ino;
  logger.info('image-access listening', { socket: settings.socket, policy: policySource.describe, mode: settings.mode });
  return {
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        policySource.close();
        server.close(() => resolve());
        server.closeAllConnections();
        releaseSocketPath(settings.socket, socketInode);
      }),
  };
}
