import { connect } from 'node:net';

export interface RawReply {
  readonly status: number;
  /** The whole final reply: status line, headers and body (an interim `100 Continue` is left out). */
  readonly text: string;
}

const PIECE = 64 * 1024;
const INTERIM_CONTINUE = /^HTTP\/1\.1 100 [^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n/;

/**
 * One HTTP/1.1 request written byte for byte on a unix socket, for what a client library would not send: repeated
 * headers, chunked bodies as given, bodies past a limit. `head` is the request line and headers, one per `\n`-ended
 * line (sent as CRLF); `Connection: close` and the blank line are added.
 *
 * dockerd may answer (a denial) without reading a large body and close; a write after that fails and Node drops the
 * reply still unread. With `Expect: 100-continue` in `head` the body is sent only once the daemon asks for it (Go
 * sends `100 Continue` when the handler first reads the body), so such a reply is always read. The body is written
 * in pieces (the first with the head), and no more once a reply has begun.
 */
export function rawHttpRequest(socketPath: string, head: string, body: string | Buffer = '', timeoutMs = 60_000): Promise<RawReply> {
  const waitForContinue = /^expect:\s*100-continue\s*$/im.test(head);
  const headBytes = Buffer.from(`${head.replace(/\n/g, '\r\n')}Connection: close\r\n\r\n`);
  const payload = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let received = Buffer.alloc(0);
    let bodySent = !waitForContinue;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    // In one write where it fits: dockerd reads what arrived with the head, and closing on bytes it never read would
    // reset the connection before its reply is read.
    const send = async (bytes: Buffer) => {
      for (let offset = 0; offset < bytes.length && received.length === 0 && !socket.destroyed; offset += PIECE) {
        await new Promise<void>((done) => socket.write(bytes.subarray(offset, offset + PIECE), () => setImmediate(done)));
      }
    };
    socket.on('connect', () => void send(waitForContinue ? headBytes : Buffer.concat([headBytes, payload])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const interim = INTERIM_CONTINUE.exec(received.toString('latin1'));
      if (interim && !bodySent) {
        bodySent = true;
        received = received.subarray(interim[0].length);
        void send(payload);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The daemon closed while a piece was in flight: the reply read so far stands.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = received.toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text });
    });
  });
}

/** `text` as one chunk of a chunked body, then the last chunk. */
export const chunkedBody = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
