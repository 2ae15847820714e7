/** The plugin side of dockerd's wire, hand-written so the client costs less CPU than the plugin it drives. */

/**
 * A call as dockerd sends it to a plugin, byte for byte (captured): `host` empty from 20.10, plugin.moby.localhost
 * from 26.1.
 */
export function dockerdCall(path: string, body: string, host = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n${body}`
  );
}

/** A POST as dockerd 20.10 sends it, in bytes. */
export function pluginPost(path: string, body: string): Buffer {
  return Buffer.from(dockerdCall(path, body));
}

/** Bytes of the complete reply at the start of `buffer`, or 0 while it is incomplete. */
export function completeReplyLength(buffer: Buffer): number {
  const headerEnd = buffer.indexOf('\r\n\r\n');
  if (headerEnd === -1) return 0;
  const head = buffer.toString('latin1', 0, headerEnd);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!length) throw new Error(`reply without Content-Length: ${head}`);
  const end = headerEnd + 4 + Number(length[1]);
  return buffer.length >= end ? end : 0;
}
