/**
 * One image judged as `docker pull IMAGE` would be, explained: the plugin's own Authorizer on a synthetic pull request,
 * with the decision read off the observer hook the audit log uses, so it cannot drift from the real thing. The plugin
 * answers it on its admin listener (`GET /check`); `image-access check --offline` runs it in-process.
 */
import { z } from 'zod';
import { Authorizer, type AuthorizerDeps } from '../authorizer';
import { signedInUser } from '../identity/identity';
import type { DecisionEvent, DecisionObserver } from '../observability/events';
import { bareRequest, type AuthZRequest } from '../protocol/wire';

/** What `docker pull IMAGE` sends, as far as the plugin sees it. */
export function pullRequest(image: string): AuthZRequest {
  return bareRequest('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`);
}

/** The `/check` reply, and what `check --json` prints. */
export const explanationSchema = z.object({
  allow: z.boolean(),
  /** What the developer would read; empty when allowed (or only warned). */
  message: z.string(),
  decision: z.object({
    time: z.number(),
    image: z.string(),
    category: z.string(),
    decision: z.enum(['allow', 'deny', 'warn']),
    rule: z.string(),
    reason: z.string(),
    user: z.string().optional(),
    identitySource: z.string().optional(),
    organization: z.string().optional(),
    policySource: z.string().optional(),
    policyFetchedAt: z.number().optional(),
    policyVersion: z.string().optional(),
    policyStale: z.string().optional(),
    mode: z.enum(['enforce', 'warn']),
    latencyMs: z.number(),
  }),
});
export type Explanation = z.infer<typeof explanationSchema>;

/** Not a pull the plugin judges (an empty or odd name): why. */
export interface NotJudged {
  readonly notJudged: string;
}

/**
 * Judges `image` with the plugin's Authorizer dependencies, told only to a private observer (a check is no pull: it
 * reaches neither the audit log nor the metrics). `user`: as that Docker ID instead of the configured identity sources.
 */
export async function explainPull(deps: AuthorizerDeps, image: string, user?: string): Promise<Explanation | NotJudged> {
  let seen: DecisionEvent | undefined;
  const capture: DecisionObserver = { decided: (event) => (seen = event) };
  const checkedUser = signedInUser('check --user', user, undefined);
  const identity = user === undefined ? deps.identity : { identify: () => Promise.resolve(checkedUser) };
  const reply = await new Authorizer({ ...deps, identity, observers: [capture] }).authorizeRequest(pullRequest(image));
  if (seen === undefined) return { notJudged: reply.Msg };
  return { allow: reply.Allow, message: reply.Msg, decision: seen };
}
