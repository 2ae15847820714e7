import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { then, type MaybeAsync } from '../maybe-async';
import type { OwnConnection, Traffic } from './socket';

/**
 * dockerd's calls to the plugin, answered on the socket with a few lines of HTTP/1.1 instead of node:http, whose
 * parser, request and response objects cost about a third of the CPU of each call at daemon pace. dockerd 20.10
 * and 26.1 write every call the same way (captured from both):
 *
 *     POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 91\r\n
 *     Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n{"RequestMethod":"GET",...}
 *
 * (26.1's Host is `plugin.moby.localhost`), each in one write up to Go's 4 KiB buffer and in 4 KiB pieces beyond.
 * Only that shape is answered here, and strictly: anything else on a connection (another path or method, another
 * version, chunked or encoded bodies, an Expect or Upgrade, a repeated or non-numeric Content-Length, a bare LF, a
 * byte outside visible ASCII in a header, a large head or body, more than one request in what was read, a sender that
 * stalls) hands the connection, with every byte read so far put back, to node:http, which answers it as it always did.
 * Except a large AuthZRes: its body, the API's reply (`docker images` on a busy host: hundreds of KiB), is never
 * looked at, so it is read off and dropped as it arrives, and the connection stays on this path.
 */

const CALL_PATHS = ['/Plugin.Activate', '/AuthZPlugin.AuthZReq', '/AuthZPlugin.AuthZRes'] as const;
export type CallPath = (typeof CALL_PATHS)[number];

const CALL_LINES: ReadonlyArray<readonly [string, CallPath]> = CALL_PATHS.map((path) => [`POST ${path} HTTP/1.1\r\n`, path] as const);

/** Far over the ~150 bytes of head dockerd sends. */
export const RAW_HEAD_MAX = 4 * 1024;
/**
 * Bodies below OFF_THREAD_FROM_BYTES (body-parsers.ts): a larger AuthZReq, its budget and its worker stay with
 * node:http; a larger AuthZRes is dropped unread.
 */
export const RAW_BODY_MAX = 60 * 1024;

/** Header lines as RFC 9110 has them (token name, visible ASCII, space and tab in the value), without obs-fold. */
const FIELD_LINES = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r\n)*$/;
const DIGITS = /^[0-9]{1,9}$/;

export interface RawCall {
  readonly path: CallPath;
  readonly body: Buffer;
}

/** An AuthZRes past RAW_BODY_MAX whose head is read: `unread` bytes of its body are still to come, to be dropped. */
export interface SkippedBody {
  readonly path: '/AuthZPlugin.AuthZRes';
  readonly unread: number;
}

/** A call's head read: its path, where its body starts and the length the head declares. */
interface CallHead {
  readonly path: CallPath;
  readonly bodyStart: number;
  readonly length: number;
}

/**
 * One call at the start of `bytes` that holds it all and nothing after it; `partial` while they could still become
 * one; `other` for anything node:http must answer.
 */
export function parseCall(bytes: Buffer): RawCall | SkippedBody | 'partial' | 'other' {
  const head = dockerdHead(bytes) ?? anyHead(bytes);
  if (typeof head === 'string') return head;
  const end = head.bodyStart + head.length;
  if (bytes.length > end) return 'other';
  if (head.length > RAW_BODY_MAX) return head.path === '/AuthZPlugin.AuthZRes' ? { path: head.path, unread: end - bytes.length } : 'other';
  if (bytes.length < end) return 'partial';
  return { path: head.path, body: bytes.subarray(head.bodyStart, end) };
}

/**
 * A head exactly as dockerd 20.10 and 26.1 write it (above; only Host and Content-Length differ), read with one
 * expression: reading it field by field (anyHead) cost twice as much on a CPU left cold between calls, as dockerd
 * leaves it, and twice per API call. anyHead takes whatever this matches, with the same path and length.
 */
const DOCKERD_HEAD = new RegExp(
  `^POST (${CALL_PATHS.map((path) => path.replaceAll('.', '\\.')).join('|')}) HTTP/1\\.1\r\nHost: (?:plugin\\.moby\\.localhost)?\r\n` +
    'User-Agent: Go-http-client/1\\.1\r\nContent-Length: ([0-9]{1,9})\r\nAccept: application/vnd\\.docker\\.plugins\\.v1\\.2\\+json\r\n\r\n',
);
/** More than the longest head DOCKERD_HEAD matches (177 bytes). */
const DOCKERD_HEAD_MAX = 192;

function dockerdHead(bytes: Buffer): CallHead | undefined {
  const found = DOCKERD_HEAD.exec(bytes.toString('latin1', 0, DOCKERD_HEAD_MAX));
  return found === null ? undefined : { path: found[1] as CallPath, bodyStart: found[0].length, length: Number(found[2]) };
}

/** Any head the raw path answers, field by field. */
function anyHead(bytes: Buffer): CallHead | 'partial' | 'other' {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return bytes.length < RAW_HEAD_MAX && couldBeCall(bytes) ? 'partial' : 'other';
  if (headEnd + 4 > RAW_HEAD_MAX) return 'other';
  const head = bytes.toString('latin1', 0, headEnd + 2);
  const call = CALL_LINES.find(([line]) => head.startsWith(line));
  if (call === undefined) return 'other';
  const fields = head.slice(call[0].length);
  if (!FIELD_LINES.test(fields)) return 'other';
  let length: number | undefined;
  let hosts = 0;
  for (let at = 0; at < fields.length; ) {
    const colon = fields.indexOf(':', at);
    const end = fields.indexOf('\r\n', colon);
    const value = fields.slice(colon + 1, end).trim();
    switch (fields.slice(at, colon).toLowerCase()) {
      case 'content-length':
        if (length !== undefined || !DIGITS.test(value)) return 'other';
        length = Number(value);
        break;
      case 'host':
        hosts++;
        break;
      case 'connection':
        if (value.toLowerCase() !== 'keep-alive') return 'other';
        break;
      case 'transfer-encoding':
      case 'content-encoding':
      case 'expect':
      case 'upgrade':
        return 'other';
    }
    at = end + 2;
  }
  if (length === undefined || hosts !== 1) return 'other';
  return { path: call[1], bodyStart: headEnd + 4, length };
}

/** Whether a head not yet complete starts as a call does. */
function couldBeCall(bytes: Buffer): boolean {
  const start = bytes.toString('latin1', 0, 40);
  return CALL_LINES.some(([line]) => (start.length >= line.length ? start.startsWith(line) : line.startsWith(start)));
}

/** A large AuthZRes once its body is dropped: answered as any AuthZRes, without a body. */
const DROPPED_BODY: RawCall = { path: '/AuthZPlugin.AuthZRes', body: Buffer.alloc(0) };

export function replyText(json: string, close: boolean): string {
  return (
    `HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
    `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${json}`
  );
}

type Listener = (this: Server, socket: Socket) => void;

export interface RawCallAnswers {
  /** The reply's JSON text. */
  answer(call: RawCall): MaybeAsync<string>;
  /**
   * The reply's JSON text for a call whose dropped body stopped coming (`code`: node:http's for the same:
   * ERR_HTTP_REQUEST_TIMEOUT, HPE_INVALID_EOF_STATE); the connection then ends, as node:http ends it.
   */
  unfinished(path: CallPath, code: string): string;
}

export interface RawCallTimes {
  /** A call is complete, or its connection handed to node:http, within this of its first byte (or of the opening). */
  readonly waitMs: number;
  /** A body being dropped is all read within this of its call's head (node:http's requestTimeout). */
  readonly requestMs: number;
}

/**
 * Answers dockerd's calls on `server`'s connections, handing each connection that sends anything else to node:http,
 * which then applies its own timeouts to a sender that stalls.
 */
export function answerRawCalls(server: Server, traffic: Traffic, times: RawCallTimes, answers: RawCallAnswers): void {
  const httpListeners = server.listeners('connection') as Listener[];
  server.removeAllListeners('connection');
  const handOff = (socket: Socket) => {
    // node:http then reads the socket's handle itself; the bytes put back in the stream still come first: resume()
    // hands them to its parser on the next tick, before the event loop can read anything new from the handle.
    for (const listener of httpListeners) listener.call(server, socket);
    socket.resume();
  };
  server.on('connection', (socket: Socket) => serveConnection(server, socket, traffic, times, answers, handOff));
}

function serveConnection(
  server: Server,
  socket: Socket,
  traffic: Traffic,
  { waitMs, requestMs }: RawCallTimes,
  { answer, unfinished }: RawCallAnswers,
  handOff: (socket: Socket) => void,
): void {
  /** The bytes of a call not yet complete. */
  let pending: Buffer | undefined;
  /** Bytes still to come of a body being dropped (a large AuthZRes). */
  let skipping = 0;
  let waiting: NodeJS.Timeout | undefined;
  let answering = false;
  /** Paused: on bytes sent before the reply to the call being answered, or on replies the client does not read. */
  let held = false;
  /** The client sent its last bytes (a half-close). */
  let ended = false;
  const connection: OwnConnection = {
    socket,
    get idle() {
      return !answering && waiting === undefined;
    },
    get answering() {
      return answering;
    },
  };
  const stopWaiting = () => {
    clearTimeout(waiting);
    waiting = undefined;
  };
  const handOver = (bytes: Buffer | undefined) => {
    stopWaiting();
    traffic.own.delete(connection);
    socket.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    socket.pause();
    if (bytes !== undefined) socket.unshift(bytes);
    handOff(socket);
  };
  const reply = (json: string) => {
    answering = false;
    if (socket.destroyed) return;
    const close = ended || !server.listening;
    if (close) {
      traffic.own.delete(connection);
      socket.off('data', onData);
      socket.end(replyText(json, true), () => socket.destroy());
    } else {
      socket.write(replyText(json, false));
      // A client that sends calls without reading their replies is read no further until it does.
      if (socket.writableNeedDrain) hold(), socket.once('drain', release);
      else if (held) release();
    }
  };
  const hold = () => {
    held = true;
    socket.pause();
  };
  const release = () => {
    held = false;
    socket.resume();
  };
  const answerCall = (call: RawCall) => {
    stopWaiting();
    answering = true;
    traffic.lastRequestAt = Date.now();
    then(answer(call), reply);
  };
  /** Ends the connection with the reply node:http gives a call whose body stopped coming. */
  const cutOff = (code: string) => {
    skipping = 0;
    stopWaiting();
    ended = true;
    reply(unfinished('/AuthZPlugin.AuthZRes', code));
  };
  function onData(chunk: Buffer): void {
    if (answering) {
      // Sent before its reply: read once the reply is written, in order.
      hold();
      socket.unshift(chunk);
      return;
    }
    if (skipping > 0) {
      if (chunk.length < skipping) return void (skipping -= chunk.length);
      const after = chunk.subarray(skipping);
      skipping = 0;
      answerCall(DROPPED_BODY);
      // Sent behind the body: the next call, read in its turn.
      if (after.length > 0) onData(after);
      return;
    }
    const bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    const call = parseCall(bytes);
    if (call === 'other') return handOver(bytes);
    if (call === 'partial') {
      pending = bytes;
      waiting ??= setTimeout(() => handOver(pending), waitMs);
      return;
    }
    pending = undefined;
    if ('unread' in call && call.unread > 0) {
      // Past the point of handing over (what was read is gone): the body has node:http's time to arrive from its head on.
      skipping = call.unread;
      stopWaiting();
      waiting = setTimeout(() => cutOff('ERR_HTTP_REQUEST_TIMEOUT'), requestMs);
      return;
    }
    answerCall('unread' in call ? DROPPED_BODY : call);
  }
  function onEnd(): void {
    ended = true;
    if (answering) return;
    if (skipping > 0) return cutOff('HPE_INVALID_EOF_STATE');
    if (pending === undefined) return void socket.end();
    // Cut off mid-call: node:http is given the same bytes and the same end, and answers as it always did.
    const bytes = pending;
    handOver(undefined);
    socket.emit('data', bytes);
    socket.emit('end');
  }
  function onError(): void {
    socket.destroy();
  }
  function onClose(): void {
    stopWaiting();
    traffic.own.delete(connection);
  }
  socket.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  traffic.own.add(connection);
  // A connection that sends nothing is node:http's to time out, as it always was.
  waiting = setTimeout(() => handOver(undefined), waitMs);
}
