/**
 * The outbound connections the settings ask for (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, IMAGE_ACCESS_CA_BUNDLE): agents for
 * the policy sources' and the gateway's requests, and a dialer for the gateway's tunnels.
 */
import { readFileSync } from 'node:fs';
import { SettingsError, type Settings } from '../config/settings';
import type { Duplex } from 'node:stream';
import { dialDirect, openTunnel, outboundAgents, type OutboundAgents } from './agents';
import { proxyFor } from './proxy';

/** The proxy and CA settings as agents for every outbound call (the policy sources; the gateway's upstream too). */
export function settingsAgents(settings: Settings): OutboundAgents {
  return outboundAgents({ proxy: settings, extraCaPem: settings.caBundle && readCaBundle(settings.caBundle), connectTimeoutMs: settings.decisionTimeoutMs });
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
    return proxy === undefined ? dialDirect(host, port) : openTunnel(proxy, host, port, settings.decisionTimeoutMs);
  };
}
