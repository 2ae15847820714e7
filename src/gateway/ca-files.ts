import { join } from 'node:path';

/**
 * Where the registry gateway's CA lives under the state directory. Kept apart from the CA code (and its X.509
 * library) so that `image-access install --gateway` can name the certificate directory without loading either.
 */
export interface GatewayCaFiles {
  /** Holds the CA certificate and nothing else: dockerd lists it in SSL_CERT_DIR, and Go trusts every file there. */
  readonly certificateDirectory: string;
  readonly certificate: string;
  /** Beside the certificate directory, never in it: the state directory is 0700, the key 0600. */
  readonly key: string;
}

export function gatewayCaFiles(stateDir: string): GatewayCaFiles {
  const certificateDirectory = join(stateDir, 'gateway-ca');
  return {
    certificateDirectory,
    certificate: join(certificateDirectory, 'image-access-gateway-ca.pem'),
    key: join(stateDir, 'gateway-ca.key'),
  };
}
