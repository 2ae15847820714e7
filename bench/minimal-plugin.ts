/**
 * The floor for a Node.js authorization plugin: plain `node:http`, allows everything, reads each body and answers.
 * The bench measures image-access's added latency against this one's.
 * Usage: node minimal-plugin.js SOCKET
 */
import { createServer } from 'node:http';

const socket = process.argv[2];
if (socket === undefined) {
  process.stderr.write('usage: minimal-plugin SOCKET\n');
  process.exit(2);
}

const ACTIVATE = JSON.stringify({ Implements: ['authz'] });
const ALLOW = JSON.stringify({ Allow: true, Msg: '' });

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const reply = req.url === '/Plugin.Activate' ? ACTIVATE : ALLOW;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(reply) });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(socket);
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
