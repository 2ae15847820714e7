const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Decodes standard or URL-safe base64, padded or not, to UTF-8; undefined when the text is not base64. (Buffer.from
 * alone silently skips characters outside the alphabet, so garbage would decode to something.)
 */
export function decodeBase64(text: string): string | undefined {
  const unpadded = text.replace(/=+$/, '');
  if (!BASE64.test(text) || unpadded.length % 4 === 1) return undefined;
  return Buffer.from(unpadded, 'base64').toString('utf8');
}

/** `user:secret` as the Docker CLI stores it in an `auth` field; the secret may itself contain colons. */
export function splitBasicAuth(decoded: string): { username: string; secret: string } | undefined {
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** JSON.parse without its error message, which quotes the text (and these texts hold secrets): an Error when not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new Error('not valid JSON');
  }
}
