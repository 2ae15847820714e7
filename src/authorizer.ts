import type { Logger } from './audit/logger';
import type { EnforcementMode, FailMode, Settings } from './config/settings';
import { categorize } from './decision/category';
import {
  decide,
  decideInvalidReference,
  decideUnresolvedRegistry,
  decideRegistryConnection,
  decideWithoutPolicy,
  refuseWithoutSignIn,
  type Decision,
} from './decision/decide';
import { denialMessage } from './decision/denial';
import { SIGNED_OUT, type IdentityResolver } from './identity/identity';
import type { Identity } from './subject/subject';
import { signInRequired, type SignInEnforcement } from './identity/organization';
import type { DecisionEvent, DecisionObserver, DecisionRoute } from './observability/events';
import { isPromise, then, type MaybeAsync } from './maybe-async';
import { within } from './policy/deadline';
import type { PolicySource, PolicyView } from './policy/source';
import { isUnavailable } from './policy/source';
import { ALLOW, bareRequest, type AuthZHead, type AuthZReply, type AuthZRequest } from './protocol/wire';
import { activityAllowedBySetting, decideRestricted, type RestrictedActivity, type RestrictedInput } from './decision/restricted';
import { mayNamePlugin } from './recognition/plugins';
import { recognize } from './recognition/recognize';
import type { RecognizedRequest } from './recognition/recognized';
import { shownValue, withoutUserInfo } from './recognition/uri';
import {
  DOCKER_HUB,
  formatReference,
  hubNamespace,
  isHubDomain,
  parseReference,
  pullReference,
  registryHostKey,
  viaHubMirror,
  type ImageReference,
} from './reference/reference';
import type { SameRegistry } from './policy/allowlist';
import type { HostResolver } from './reference/host-resolver';
import { literalHost, matchMirror, sameRegistry, unresolvedHost, type ResolvedHost } from './reference/registry-identity';

export interface AuthorizerDeps {
  readonly policySource: PolicySource;
  readonly identity: IdentityResolver;
  readonly logger: Logger;
  readonly mode: EnforcementMode;
  readonly failMode: FailMode;
  readonly clock: () => number;
  /** Which routes that bring uncheckable content are allowed, and whether this plugin protects itself. */
  readonly routes: RouteSettings;
  /** Told of every image decision: the audit log and the metrics. */
  readonly observers?: readonly DecisionObserver[];
  /** Whether the decision just made has its audit line (IMAGE_ACCESS_AUDIT_LOG): an allowed image's log line is then at debug. */
  readonly audited?: () => boolean;
  /** IMAGE_ACCESS_DECISION_TIMEOUT: past it, a pull is decided by the fail mode (the daemon waits on us forever). */
  readonly decisionTimeoutMs?: number;
  /** Enforced sign-in (IMAGE_ACCESS_REQUIRE_SIGNIN and the organisation); absent: never enforced. */
  readonly signIn?: SignInEnforcement;
  /** IMAGE_ACCESS_HUB_MIRRORS: registry hosts that serve Docker Hub's images, judged as Docker Hub. */
  readonly hubMirrors?: readonly string[];
  /** Where dockerd will connect for a registry host name; absent: hosts are told apart by spelling alone. */
  readonly hostResolver?: HostResolver;
  /** IMAGE_ACCESS_ADMIN_CONTACT: whom a denied developer asks, when the policy names nobody. */
  readonly adminContact?: string;
  /**
   * With the registry gateway on, dockerd's registry mirrors that it does not front: builders fetch FROM images
   * through them unseen, so builds are refused (owners excepted) whatever IMAGE_ACCESS_ALLOW_BUILD says.
   */
  readonly mirrorsAroundGateway?: readonly string[];
}

/** Names resolve to nothing: only IP literals and spellings are compared. */
const SPELLING_ONLY: HostResolver = { resolve: (key) => Promise.resolve(literalHost(key) ?? { key, endpoints: new Set() }) };

export type RouteSettings = Pick<Settings, 'allowImport' | 'allowLoad' | 'allowBuild' | 'protectPlugin' | 'pluginName'>;

/** Whether Docker Hub pulls need a signed-in member, and of which organisation. */
interface SignInRule {
  readonly required: boolean;
  readonly organization: string | undefined;
}
const NO_SIGN_IN: SignInRule = { required: false, organization: undefined };
const deny = (message: string): AuthZReply => ({ Allow: false, Msg: message });

/** One image judged, with the context that the decision log line records. */
interface Judgement {
  readonly image: string;
  readonly decision: Decision;
  readonly identity?: Identity;
  readonly policySource?: string;
  readonly policyFetchedAt?: number;
  readonly policyVersion?: string;
  readonly policyStale?: string;
  readonly organization?: string;
  /** The policy's admin contact, for the denial message. */
  readonly adminContact?: string;
  /** How the image was seen: absent for the AuthZ API. */
  readonly via?: DecisionRoute;
}

/**
 * An image judged under the policy in force, with what the decision log line and a denial message take from that
 * policy. Every field is set (undefined when unknown): one shape for every pull.
 */
function judgedUnder(view: PolicyView, image: string, identity: Identity, decision: Decision): Judgement {
  return {
    image,
    decision,
    identity,
    policySource: view.source,
    policyFetchedAt: view.fetchedAt,
    policyVersion: view.version,
    policyStale: view.stale,
    organization: view.policy.organization,
    adminContact: view.policy.adminContact,
  };
}

/** Turns AuthZReq bodies into replies: the imperative shell around the pure decision. */
export class Authorizer {
  private readonly hubMirrors: readonly string[];
  private readonly hosts: HostResolver;

  private readonly buildsUnchecked: RestrictedInput['unchecked'];

  constructor(private readonly deps: AuthorizerDeps) {
    this.hubMirrors = [...new Set((deps.hubMirrors ?? []).map(registryHostKey))];
    this.hosts = deps.hostResolver ?? SPELLING_ONLY;
    const around = deps.mirrorsAroundGateway ?? [];
    this.buildsUnchecked =
      around.length === 0
        ? undefined
        : {
            why: `builders fetch FROM images through the registry mirror ${around.join(', ')}, which the image-access registry gateway does not see`,
            remedy: 'a Docker administrator can make the gateway front that mirror (README: registry mirrors)',
          };
  }

  /** A request recognised as passthrough from its method and URI alone is passthrough whatever its body and headers. */
  needsBody({ method, uri }: AuthZHead): boolean {
    return recognize(bareRequest(method, uri)).kind !== 'passthrough';
  }

  /**
   * `recognized`: the route as already recognised when the body was read (the request's body may then be gone). What
   * the route alone decides (passthrough: nearly every call; a request refused as it stands) is answered at once, not
   * through a promise: the daemon's next call waits on it.
   */
  authorizeRequest(request: AuthZRequest, recognized: RecognizedRequest = recognize(request)): MaybeAsync<AuthZReply> {
    switch (recognized.kind) {
      case 'passthrough':
        return ALLOW;
      case 'reject':
        this.deps.logger.warn('request refused', { method: request.requestMethod, reason: recognized.reason });
        return deny(`image-access: ${recognized.reason}`);
      case 'pull':
        return this.authorizePull(request, recognized.fromImage, recognized.tag);
      case 'image-use':
        return this.authorizeImages(request, recognized.images);
      case 'unverifiable':
        return this.authorizeActivity(request, recognized.activity, recognized.detail);
      case 'plugin-change':
        return this.authorizePluginChange(request, recognized.plugin, recognized.remote, recognized.action);
    }
  }

  /** At once (no promise) when sign-in, organisation, policy and badge are all known without waiting: nearly every pull. */
  private authorizePull(request: AuthZRequest, fromImage: string, tag: string): MaybeAsync<AuthZReply> {
    const started = this.deps.clock();
    const parsed = pullReference(fromImage, tag);
    if (!parsed.ok) return this.conclude(this.judgeInvalid(tag === '' ? fromImage : `${fromImage}:${tag}`, parsed.error), started);
    return then(this.judgeImage(request, parsed.reference, started), (judgement) => this.conclude(judgement, started));
  }

  private async authorizePluginChange(request: AuthZRequest, plugin: string, remote: string | undefined, action: string): Promise<AuthZReply> {
    if (this.deps.routes.protectPlugin && mayNamePlugin(plugin, this.deps.routes.pluginName)) {
      const reply = await this.authorizeActivity(request, 'plugin-change', `${action} of plugin ${plugin}`);
      if (!reply.Allow) return reply;
    }
    return remote === undefined ? ALLOW : this.authorizeImages(request, [remote]);
  }

  /**
   * An image dockerd fetches from Docker Hub through the registry gateway (a pull, a build's FROM, ...), judged
   * exactly as a pull of it. With `reportAllowed` false an allowed fetch is not logged or audited (a blob: the
   * manifest fetch before it was); a denial always is.
   */
  async authorizeFetch(image: ImageReference, requestUri: string, reportAllowed = true): Promise<AuthZReply> {
    const started = this.deps.clock();
    const judgement = await this.judgeImage(bareRequest('GET', requestUri), image, started);
    return this.conclude({ ...judgement, via: 'gateway' }, started, reportAllowed);
  }

  /** A registry name the gateway saw that dockerd's parser would refuse: denied, the name shown without user info. */
  refuseFetch(name: string, problem: string): AuthZReply {
    return this.conclude({ ...this.judgeInvalid(name, problem), via: 'gateway' }, this.deps.clock());
  }

  /**
   * A connection through the registry gateway that it tunnels unseen (`host:port` as dockerd asked for it;
   * `registryHost` the registry it belongs to): Registry Access Management only. Only refusals are reported.
   */
  async authorizeConnection(host: string, registryHost: string): Promise<AuthZReply> {
    const started = this.deps.clock();
    const judging = (async (): Promise<Judgement> => {
      const identity = await this.deps.identity.identify(bareRequest('CONNECT', host));
      const view = await this.deps.policySource.policyFor(identity);
      if (isUnavailable(view)) return { image: host, identity, decision: decideRegistryConnection(host, registryHost, undefined) };
      const sameRegistry = await this.registryMatcher({ domain: registryHost, path: '' }, view.policy.registryAllowlist);
      return judgedUnder(view, host, identity, decideRegistryConnection(host, registryHost, view.policy, sameRegistry));
    })();
    const judgement = await this.withinDeadline(host, judging, started, () => decideRegistryConnection(host, registryHost, undefined));
    return this.conclude({ ...judgement, via: 'gateway' }, started, false);
  }

  /** Image references from a service spec or a plugin install, from `index` on: each judged like a pull; the first denial answers. */
  private authorizeImages(request: AuthZRequest, images: readonly string[], index = 0): MaybeAsync<AuthZReply> {
    const image = images[index];
    if (image === undefined) return ALLOW;
    const started = this.deps.clock();
    const parsed = parseReference(image);
    const judging = parsed.ok ? this.judgeImage(request, parsed.reference, started) : this.judgeInvalid(image, parsed.error);
    return then(judging, (judgement) => {
      const reply = this.conclude(judgement, started);
      return reply.Allow ? this.authorizeImages(request, images, index + 1) : reply;
    });
  }

  private activityAllowed(activity: RestrictedActivity): boolean {
    const { routes } = this.deps;
    switch (activity) {
      case 'import':
        return routes.allowImport;
      case 'load':
      case 'plugin-create':
        return routes.allowLoad;
      case 'build':
        return routes.allowBuild && this.buildsUnchecked === undefined;
      case 'commit':
        return routes.allowBuild;
      case 'plugin-change':
        return !routes.protectPlugin;
    }
  }

  /** A route whose content cannot be checked, or a change to this plugin: settings first, then owners only. */
  private async authorizeActivity(request: AuthZRequest, activity: RestrictedActivity, fullDetail: string): Promise<AuthZReply> {
    const started = this.deps.clock();
    const detail = shownValue(fullDetail);
    const image = `${activity}: ${detail}`;
    if (this.activityAllowed(activity)) return this.conclude({ image, decision: activityAllowedBySetting(activity, detail) }, started);
    const judging = this.judgeActivityUnbounded(request, activity, detail, image);
    const judgement = await this.withinDeadline(image, judging, started, (cause) =>
      decideRestricted({ activity, detail, identity: SIGNED_OUT, policy: { unavailable: cause } }),
    );
    return this.conclude(judgement, started);
  }

  private async judgeActivityUnbounded(request: AuthZRequest, activity: RestrictedActivity, detail: string, image: string): Promise<Judgement> {
    const identity = await this.deps.identity.identify(request);
    const view = await this.deps.policySource.policyFor(identity);
    const unchecked = activity === 'build' && this.deps.routes.allowBuild ? this.buildsUnchecked : undefined;
    const why = unchecked === undefined ? {} : { unchecked };
    if (isUnavailable(view)) return { image, identity, decision: decideRestricted({ activity, detail, identity, policy: view, ...why }) };
    const membership = view.membership;
    const decision = decideRestricted({ activity, detail, identity, policy: view.policy, ...why, ...(membership === undefined ? {} : { membership }) });
    return judgedUnder(view, image, identity, decision);
  }

  /**
   * Shown without user info that may hold a password (then the parser's detail, which may quote it, is left out
   * too), and cut short: the message, the log line and the audit line each repeat it.
   */
  private judgeInvalid(image: string, problem: string): Judgement {
    const shown = shownValue(image);
    const detail = withoutUserInfo(image) === image ? shownValue(problem) : 'invalid reference format';
    return { image: shown, decision: decideInvalidReference(shown, detail) };
  }

  /**
   * The judgement, or the fail mode's when identity or policy take longer than the decision timeout. The registry is
   * located first (its resolution has its own bound), so that a timeout never judges a mirror as another registry.
   */
  private judgeImage(request: AuthZRequest, named: ImageReference, started: number): MaybeAsync<Judgement> {
    // A Docker Hub image (nearly every pull) has no mirror to tell apart: nothing is resolved or waited for.
    const located = this.mayBeMirror(named) ? this.throughMirror(named) : { image: named };
    return then(located, (found) => {
      if ('unknown' in found) {
        return { image: formatReference(named), decision: decideUnresolvedRegistry(named, found.unknown, this.deps.failMode) };
      }
      const image = found.image;
      return this.withinDeadline(formatReference(image), this.judgeImageUnbounded(request, image), started, (cause) =>
        decideWithoutPolicy(image, cause, this.deps.failMode),
      );
    });
  }

  private mayBeMirror(image: ImageReference): boolean {
    return image.domain !== DOCKER_HUB && this.hubMirrors.length > 0;
  }

  /** The image as dockerd fetches it: through a Docker Hub mirror named directly (by any name that reaches it), Hub's. */
  private async throughMirror(image: ImageReference): Promise<{ image: ImageReference } | { unknown: string }> {
    const [host, ...mirrors] = await Promise.all([registryHostKey(image.domain), ...this.hubMirrors].map((key) => this.hosts.resolve(key)));
    const match = matchMirror(host!, mirrors);
    if (match === 'mirror') return { image: viaHubMirror(image) };
    return match === 'other' ? { image } : match;
  }

  /**
   * How the registry allowlist tells registries apart for this image: by where dockerd connects, when the image's
   * host is not spelled as an entry. An entry or host that cannot be resolved matches only by spelling.
   */
  private registryMatcher(image: ImageReference, listed: readonly string[] | undefined): Promise<SameRegistry> | undefined {
    // No allowlist, or a Docker Hub image: spelling decides, and nothing is waited for.
    if (listed === undefined || image.domain === DOCKER_HUB) return undefined;
    return this.resolvingMatcher(image, listed);
  }

  private async resolvingMatcher(image: ImageReference, listed: readonly string[]): Promise<SameRegistry> {
    const keys = [...new Set([image.domain, ...listed.filter((entry) => !isHubDomain(entry))].map(registryHostKey))];
    const resolved = new Map<string, ResolvedHost>();
    await Promise.all(keys.map(async (key) => resolved.set(key, await this.hosts.resolve(key))));
    const of = (host: string): ResolvedHost => {
      const key = registryHostKey(host);
      return resolved.get(key) ?? unresolvedHost(key, 'not resolved');
    };
    return (entry, domain) => sameRegistry(of(entry), of(domain));
  }

  /**
   * `judging`, or `onTimeout`'s decision once the decision timeout, counted from `started` (the request's arrival), has
   * passed: the daemon waits on us forever. A judgement already made (everything it needed was known) has nothing to
   * wait for: no timer.
   */
  private withinDeadline(image: string, judging: MaybeAsync<Judgement>, started: number, onTimeout: (cause: string) => Decision): MaybeAsync<Judgement> {
    const timeoutMs = this.deps.decisionTimeoutMs;
    if (timeoutMs === undefined || !isPromise(judging)) return judging;
    return within(judging, Math.max(0, timeoutMs - (this.deps.clock() - started))).then((judged) => {
      if (judged !== undefined) return judged;
      this.deps.logger.warn('decision timeout; applying the fail mode', { image, timeoutMs });
      return { image, decision: onTimeout(`no answer within the decision timeout of ${timeoutMs} ms`) };
    });
  }

  private judgeImageUnbounded(request: AuthZRequest, image: ImageReference): MaybeAsync<Judgement> {
    // Both asked before either is waited for: each answers at once unless a file it reads has just changed.
    const signInRule = this.signInRule();
    const identifying = this.deps.identity.identify(request);
    return then(signInRule, (requireSignIn) => then(identifying, (identity) => this.judgeAs(identity, requireSignIn, image)));
  }

  private judgeAs(identity: Identity, requireSignIn: SignInRule, image: ImageReference): MaybeAsync<Judgement> {
    const name = formatReference(image);
    // Nobody signed in: refused before any policy is asked for (Docker Hub shows an organisation's settings to members only).
    const signedOut = requireSignIn.required
      ? refuseWithoutSignIn(image, categorize(image, requireSignIn.organization ?? '', undefined), identity, undefined, requireSignIn.organization)
      : undefined;
    if (signedOut !== undefined) return { image: name, identity, organization: requireSignIn.organization, decision: signedOut };
    return then(this.deps.policySource.policyFor(identity), (view) => {
      if (isUnavailable(view)) {
        return { image: name, identity, decision: decideWithoutPolicy(image, view.unavailable, this.deps.failMode) };
      }
      const { policy } = view;
      return then(this.registryMatcher(image, policy.registryAllowlist), (sameRegistry) => {
        const needsBadge = policy.restrictedImages.enabled && hubNamespace(image) !== '' && categorize(image, policy.organization, undefined) === 'community';
        const badge = needsBadge ? this.deps.policySource.badgeOf(hubNamespace(image), view) : undefined;
        return then(badge, (known) =>
          judgedUnder(
            view,
            name,
            identity,
            decide({
              image,
              category: categorize(image, policy.organization, known),
              identity,
              policy,
              requireSignIn: requireSignIn.required,
              membership: view.membership,
              ...(sameRegistry === undefined ? {} : { sameRegistry }),
            }),
          ),
        );
      });
    });
  }

  private signInRule(): MaybeAsync<SignInRule> {
    const { signIn } = this.deps;
    if (signIn === undefined) return NO_SIGN_IN;
    return then(signIn.organization.current(), (organization) => ({ required: signInRequired(signIn.mode, organization), organization }));
  }

  private conclude(judgement: Judgement, started: number, reportAllowed = true): AuthZReply {
    const { decision } = judgement;
    if (decision.allow && !reportAllowed) return ALLOW;
    const warnOnly = !decision.allow && this.deps.mode === 'warn';
    const now = this.deps.clock();
    const event: DecisionEvent = {
      time: now,
      image: judgement.image,
      category: decision.category,
      decision: decision.allow ? 'allow' : warnOnly ? 'warn' : 'deny',
      rule: decision.rule,
      reason: decision.reason,
      user: judgement.identity?.username,
      identitySource: judgement.identity?.source,
      organization: judgement.organization,
      policySource: judgement.policySource,
      policyFetchedAt: judgement.policyFetchedAt,
      policyVersion: judgement.policyVersion,
      policyStale: judgement.policyStale,
      mode: this.deps.mode,
      // Present even when undefined (JSON leaves it out): one shape for every event, which every line serialises.
      via: judgement.via,
      latencyMs: now - started,
    };
    // The audit record goes before the verdict. The log line is the operator's, not the record, and dockerd waits on
    // the reply, not on the line: it is written in a microtask, so a verdict given at once (nearly every pull) is sent
    // first, the line as soon as that turn ends.
    for (const observer of this.deps.observers ?? []) {
      try {
        observer.decided(event);
      } catch (error) {
        this.deps.logger.error('decision observer failed', { error: String(error) });
      }
    }
    // A would-be denial in warn mode is what a rollout watches for: it stands out at warn level. An allowed image that
    // has its audit line needs no second record at info: a write less per pull, and the operator's log keeps what
    // needs attention.
    const level = warnOnly ? 'warn' : decision.allow && this.deps.audited?.() === true ? 'debug' : 'info';
    queueMicrotask(() => this.deps.logger.log(level, 'image decision', event));
    if (decision.allow || warnOnly) return ALLOW;
    const contact = judgement.adminContact ?? this.deps.adminContact;
    return deny(denialMessage(decision, { ...(judgement.identity === undefined ? {} : { identity: judgement.identity }), ...(contact === undefined ? {} : { contact }) }));
  }
}
