/**
 * `image-access policy [--json] [options]`: the rules a member of the organisation works under, as the running plugin
 * holds them (over its admin listener, IMAGE_ACCESS_METRICS), with who it takes them to be and this machine's recent
 * denials. The admin listener serves the same as a page at `/`.
 */
import { formatPolicySummary, policySummarySchema, type PolicySummary } from '../observability/policy-summary';
import { parseReply } from '../observability/status-report';
import { EXIT_ERROR, EXIT_NOT_OK, EXIT_OK, guarded, type CommandIo } from './command-io';
import { askPlugin } from './status';

export const POLICY_USAGE = `  image-access policy [--json] [options]
      show the policy the running plugin enforces (org, allowed categories, owners count, allowlists), who it takes
      this machine's user to be and its recent denials, asked over IMAGE_ACCESS_METRICS (also a page at its /);
      exit 0 a policy in force, 1 none, 2 not reachable`;

const parseSummary = (body: string): PolicySummary | undefined => parseReply(policySummarySchema, body);

export function runPolicy(args: readonly string[], io: CommandIo): Promise<number> {
  return guarded('policy', io, async () => {
    const json = args.includes('--json');
    const summary = await askPlugin('policy', args.filter((arg) => arg !== '--json'), io, '/policy', parseSummary);
    if (summary === undefined) return EXIT_ERROR;
    io.out(json ? `${JSON.stringify(summary)}\n` : formatPolicySummary(summary));
    return summary.organization === null ? EXIT_NOT_OK : EXIT_OK;
  });
}
