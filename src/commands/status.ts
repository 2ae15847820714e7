/**
 * `image-access status [options]`: asks the running plugin, over its admin listener (IMAGE_ACCESS_METRICS, the same
 * setting the plugin runs with), which policy is in force, who it takes the machine's user to be, when the policy was
 * last refreshed and how many decisions it has made. Exit 0 healthy, 1 no policy in force, 2 plugin not reachable.
 */
import { request } from 'node:http';
import { flagName, loadSettings, type AdminListen } from '../config/settings';
import { parseStatusReport, type StatusReport } from '../observability/status-report';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';

export const STATUS_USAGE = `  image-access status [--json] [options]
      ask the running plugin, over its admin listener (IMAGE_ACCESS_METRICS), for the policy in force, identity,
      last refresh and decision counters (--json: as JSON); exit 0 healthy, 1 no policy in force, 2 not reachable`;

const TIMEOUT_MS = 5000;
const MAX_REPLY_BYTES = 64 * 1024;

/** GET `path` from the admin listener; the body as text, whatever the status. */
export function fetchFromAdmin(listen: AdminListen, path: string): Promise<{ status: number; body: string }> {
  const target = listen.kind === 'unix' ? { socketPath: listen.path } : { host: listen.host, port: listen.port };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, method: 'GET', timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_REPLY_BYTES) req.destroy(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export function describeListen(listen: AdminListen): string {
  return listen.kind === 'unix' ? listen.path : `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
}

export function formatStatus(report: StatusReport): string {
  const { policy, identity, decisions } = report;
  const age = policy.policyAgeSeconds === null ? '' : ` (${policy.policyAgeSeconds} s old)`;
  return [
    `image-access ${report.version}: ${policy.ok ? 'policy in force' : 'NO POLICY IN FORCE'}, mode ${report.mode}, fail mode ${report.failMode}, up ${report.uptimeSeconds} s`,
    `  policy:       ${policy.policySource}${policy.organization ? ` (organization ${policy.organization})` : ''}${policy.version ? ` version ${policy.version}` : ''}`,
    ...(policy.note === null ? [] : [`  note:         ${policy.note}`]),
    `  last refresh: ${policy.fetchedAt ?? 'never'}${age}`,
    `  refresh error: ${policy.lastRefreshError ?? 'none'}`,
    `  identity:     ${identity.user ?? '(nobody signed in)'} [${identity.source}]`,
    `  decisions:    ${decisions.allow} allowed, ${decisions.deny} denied, ${decisions.warn} warned (warn mode)`,
    '',
  ].join('\n');
}

export function runStatus(args: readonly string[], io: CommandIo): Promise<number> {
  return guarded('status', io, () => status(args, io));
}

/**
 * GETs `path` from the running plugin's admin listener (IMAGE_ACCESS_METRICS, from `args` or the environment) and
 * parses the 200 reply with `parse`; undefined, having told the user why, when there is no such answer.
 */
export async function askPlugin<T>(
  command: string,
  args: readonly string[],
  io: CommandIo,
  path: string,
  parse: (body: string) => T | undefined,
): Promise<T | undefined> {
  const settings = loadSettings(io.env, args);
  if (settings.metrics === undefined) {
    io.err(`image-access ${command}: asks the running plugin over its admin listener; set IMAGE_ACCESS_METRICS (or ${flagName('IMAGE_ACCESS_METRICS')}) to the address the plugin listens on\n`);
    return undefined;
  }
  const where = describeListen(settings.metrics);
  let reply: { status: number; body: string };
  try {
    reply = await fetchFromAdmin(settings.metrics, path);
  } catch (error) {
    io.err(`image-access ${command}: no plugin answers on ${where}: ${(error as Error).message}\n`);
    return undefined;
  }
  const parsed = reply.status === 200 ? parse(reply.body) : undefined;
  if (parsed === undefined) io.err(`image-access ${command}: ${where} did not answer like image-access (HTTP ${reply.status})\n`);
  return parsed;
}

async function status(args: readonly string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const report = await askPlugin('status', args.filter((arg) => arg !== '--json'), io, '/status', parseStatusReport);
  if (report === undefined) return EXIT_ERROR;
  io.out(json ? `${JSON.stringify(report)}\n` : formatStatus(report));
  return report.policy.ok ? EXIT_OK : EXIT_NOT_OK;
}
