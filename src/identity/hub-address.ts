import { isHubDomain } from '../reference/reference';

/** The key under which the Docker CLI stores Docker Hub credentials (config.json `auths`, credential helpers). */
export const HUB_SERVER_URL = 'https://index.docker.io/v1/';

/** Whether a registry server address names Docker Hub: `https://index.docker.io/v1/`, `docker.io`, `registry-1.docker.io`... */
export function isHubServerAddress(address: string): boolean {
  const withoutScheme = address.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const host = withoutScheme.split('/')[0] ?? '';
  return isHubDomain(host.replace(/:443$/, ''));
}
