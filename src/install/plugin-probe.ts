import { request } from 'node:http';
import { z } from 'zod';
import { PLUGIN_ACCEPT } from '../protocol/wire';

const activateReplySchema = z.object({ Implements: z.array(z.string()) });

/**
 * Asks the plugin on `socket` what the daemon would ask: `POST /Plugin.Activate`, expecting `authz` among its
 * interfaces. Resolves with a problem description, or undefined when it answered as an authorization plugin.
 */
export function probeAuthzPlugin(socket: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath: socket, method: 'POST', path: '/Plugin.Activate', headers: { Accept: PLUGIN_ACCEPT }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => resolve(`reading its reply failed: ${error.message}`));
        res.on('end', () => resolve(judgeActivateReply(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve(`no reply within ${timeoutMs} ms`);
    });
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

function judgeActivateReply(status: number, body: string): string | undefined {
  if (status !== 200) return `it answered HTTP ${status} to /Plugin.Activate`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return 'its /Plugin.Activate reply is not JSON';
  }
  const reply = activateReplySchema.safeParse(json);
  if (!reply.success) return 'its /Plugin.Activate reply has no Implements list';
  return reply.data.Implements.includes('authz') ? undefined : `it implements ${reply.data.Implements.join(', ') || 'nothing'}, not authz`;
}
