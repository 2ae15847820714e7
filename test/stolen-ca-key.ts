import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { gatewayCaFiles } from '../src/gateway/ca-files';

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * What a thief holding the gateway CA's key file could do: sign a server certificate for any name or address with it,
 * outside our code's host check. The certificate is otherwise well-formed, so a verifier's refusal is the constraints'.
 */
export async function signWithStolenKey(stateDir: string, san: { type: 'dns' | 'ip'; value: string }): Promise<{ certificatePem: string; context: SecureContext }> {
  const files = gatewayCaFiles(stateDir);
  const caCertificate = new x509.X509Certificate(readFileSync(files.certificate, 'utf8'));
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(readFileSync(files.key, 'utf8')), EC_KEY, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: new x509.Name([{ '2.5.4.3': [san.value] }]),
      issuer: caCertificate.subjectName,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 24 * 3600_000),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([san]),
      ],
    },
    webcrypto,
  );
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certificatePem: certificate.toString('pem'), context: createSecureContext({ key: keyPem, cert: certificate.toString('pem') }) };
}
