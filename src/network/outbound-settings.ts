/**
 * The outbound connections the settings ask for (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, IMAGE_ACCESS_CA_BUNDLE): agents for
 * the policy sources' and the gateway's requests, and a dialer for the gateway's tunnels.
 */
import { readFileSync } from 'node:fs';
import { SettingsError, type Settings } from '../config/settings';
import type { Duplex } from 'node:stream';
import type { OutboundAgents } from './agents';
import { proxyFor } from './proxy';

/** node:https and node:tls (a fifth of start-up) are loaded with the agents, on the first call out, not before listening. */
const agentsModule = () => require('./agents') as typeof import('./agents');

/**
 * The proxy and CA settings as agents for every outbound call (the policy sources; the gateway's upstream too). The CA
 * bundle is read now, so a bad one stops the start with its message; the agents are made on first use.
 */
export function settingsAgents(settings: Settings): OutboundAgents {
  const extraCaPem = settings.caBundle && readCaBundle(settings.caBundle);
  let agents: OutboundAgents | undefined;
  const made = () => (agents ??= agentsModule().outboundAgents({ proxy: settings, extraCaPem, connectTimeoutMs: settings.decisionTimeoutMs }));
  return {
    get httpAgent() {
      return made().httpAgent;
    },
    get httpsAgent() {
      return made().httpsAgent;
    },
  };
}

function readCaBundle(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(`IMAGE_ACCESS_CA_BUNDLE (--ca-bundle) cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}; got "${path}"`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new SettingsError(`IMAGE_ACCESS_CA_BUNDLE (--ca-bundle) holds no PEM certificate; got "${path}"`);
  return pem;
}

/** A connection to `host:port` for a tunnel: through the proxy that HTTPS_PROXY and NO_PROXY name for it, or direct. */
export function settingsDial(settings: Settings): (host: string, port: number) => Promise<Duplex> {
  return (host, port) => {
    const proxy = proxyFor(settings, 'https:', host, port);
    return proxy === undefined ? agentsModule().dialDirect(host, port) : agentsModule().openTunnel(proxy, host, port, settings.decisionTimeoutMs);
  };
}
