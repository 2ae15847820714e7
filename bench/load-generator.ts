/**
 * Load generator for the plugin alone: `connections` keep-alive connections to the plugin socket, each sending the
 * next AuthZReq as soon as the previous reply is complete (the daemon never pipelines). Hand-written HTTP/1.1 so the
 * generator costs less CPU than the plugin it drives.
 *
 * Usage: node load-generator.js SOCKET TOTAL CONNECTIONS MIX [PROGRESS_EVERY]
 *   MIX: mixed (MIXED in turn), pulls (PULLS in turn), bodies (1 MiB service specs), namespaces (request i pulls
 *   nsI/app: TOTAL distinct namespaces)
 * Prints `progress N` lines every PROGRESS_EVERY replies, then one JSON line: {requests, seconds, perSecond, errors}.
 */
import { connect } from 'node:net';
import { CREATE_SERVICE_1MIB, MIXED, pullOfNamespace, PULLS } from './authz-requests';
import { completeReplyLength, pluginPost } from './plugin-wire';

function frame(body: string): Buffer {
  return pluginPost('/AuthZPlugin.AuthZReq', body);
}

function inTurn(bodies: readonly string[]): (i: number) => Buffer {
  const framed = bodies.map(frame);
  return (i) => framed[i % framed.length]!;
}

const [socketPath, totalText, connectionsText, mixName, progressText] = process.argv.slice(2);
const MIXES: Readonly<Record<string, (i: number) => Buffer>> = {
  mixed: inTurn(MIXED),
  pulls: inTurn(PULLS),
  bodies: inTurn([CREATE_SERVICE_1MIB]),
  namespaces: (i) => frame(pullOfNamespace(i)),
};
const requestFor = MIXES[mixName ?? ''];
if (socketPath === undefined || totalText === undefined || connectionsText === undefined || requestFor === undefined) {
  process.stderr.write(`usage: load-generator SOCKET TOTAL CONNECTIONS ${Object.keys(MIXES).join('|')} [PROGRESS_EVERY]\n`);
  process.exit(2);
}
const total = Number(totalText);
const connections = Number(connectionsText);
const progressEvery = Number(progressText ?? 0);

let sent = 0;
let replied = 0;
let errors = 0;
const started = process.hrtime.bigint();

function finish(): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result = { requests: replied, seconds, perSecond: replied / seconds, errors };
  // stdout is a pipe: exit only once the result is out.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(errors === 0 ? 0 : 1));
}

function drive(): void {
  const socket = connect(socketPath!);
  let pending: Buffer = Buffer.alloc(0);
  const sendNext = () => {
    if (sent >= total) {
      socket.end();
      return;
    }
    socket.write(requestFor!(sent++));
  };
  socket.on('connect', sendNext);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (let length = completeReplyLength(pending); length > 0; length = completeReplyLength(pending)) {
      if (!pending.subarray(0, 12).toString('latin1').endsWith('200')) errors++;
      pending = pending.subarray(length);
      replied++;
      if (progressEvery > 0 && replied % progressEvery === 0) process.stdout.write(`progress ${replied}\n`);
      if (replied === total) finish();
      else sendNext();
    }
  });
  socket.on('error', (error) => {
    process.stderr.write(`load-generator: ${error.message}\n`);
    errors++;
    finish();
  });
}

for (let i = 0; i < connections; i++) drive();
