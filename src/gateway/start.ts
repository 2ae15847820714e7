/**
 * Starts the registry gateway the settings ask for (IMAGE_ACCESS_GATEWAY), with the machine's gateway CA from the
 * state directory. Loaded only when the gateway is on: the X.509 library is a share of start-up the others need not pay.
 */
import type { Logger } from '../audit/logger';
import type { Settings } from '../config/settings';
import { loadOrCreateGatewayCa } from './certificate-authority';
import { settingsAgents, settingsDial } from '../network/outbound-settings';
import { startGateway, type GatewayJudge, type RunningGateway } from './gateway';
import type { MirrorHosts } from './hub-hosts';

export async function startRegistryGateway(
  settings: Settings,
  judge: GatewayJudge,
  mirrors: MirrorHosts,
  logger: Logger,
  clock: () => number,
): Promise<RunningGateway | undefined> {
  const listen = settings.gateway;
  if (listen === undefined) return undefined;
  try {
    const ca = await loadOrCreateGatewayCa(settings.stateDir, clock, logger);
    const gateway = await startGateway({
      listen,
      upstream: settings.hubRegistry,
      judge,
      serverContextFor: (host) => ca.secureContextFor(host),
      mirrors,
      logger,
      outbound: { agents: settingsAgents(settings), dial: settingsDial(settings) },
    });
    logger.info('registry gateway serving dockerd as its HTTPS proxy', {
      listen: `${listen.host}:${gateway.port}`,
      upstream: settings.hubRegistry,
      trust: ca.certificateDirectory,
    });
    return gateway;
  } catch (error) {
    // The AuthZ side must keep answering: dockerd hangs on a plugin that does not start. Pulls through the
    // missing proxy then fail to connect, which is the closed way to fail.
    logger.error('registry gateway not started; dockerd cannot reach Docker Hub through it', { listen, error: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

