import { z } from 'zod';
import type { HubCredential } from '../identity/identity';
import type { OutboundAgents } from '../network/agents';
import { RemoteError } from './remote-error';
import { createHttp, parseReply, send, statusFailure, type CallReport, type Http, type RemoteReply, type RemoteRequest } from './http-client';
import type { RemoteGate } from './remote-gate';
import { BADGES, restrictedImagesSchema, toRestrictedImages, type Badge, type RestrictedImages } from './policy';

/** An organisation the signed-in user belongs to, and their role in it (`owner`, `member`, `editor`, ...). */
export interface HubOrgMembership {
  readonly orgname: string;
  readonly role: string;
}

/** `GET /v2/user/orgs/` pages followed at most; 100 per page, so 5,000 organisations. */
const MAX_ORG_PAGES = 50;

const tokenReply = z.object({ access_token: z.string().min(1) });
const loginReply = z.object({ token: z.string().min(1) });
const orgsPage = z.object({
  next: z.string().nullish(),
  results: z.array(z.object({ orgname: z.string().min(1), user_role: z.string().nullish(), role: z.string().nullish() })),
});
const settingsReply = z.object({ restricted_images: restrictedImagesSchema });
const namespaceReply = z.object({ badge: z.string().nullish() });

const isBadge = (value: string): value is Badge => (BADGES as readonly string[]).includes(value);

/**
 * Docker Hub's API as Image Access Management needs it (docker-facts.md). The same code talks to hub.docker.com and
 * to the stand-in Hub of the tests; every reply is parsed with zod here and nowhere else.
 */
export class HubClient {
  private readonly http: Http;

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly report?: CallReport,
    agents?: OutboundAgents,
    /** Holds back every call to the Hub after a Retry-After or repeated failures. */
    private readonly gate?: RemoteGate,
  ) {
    this.http = createHttp(timeoutMs, agents);
  }

  /**
   * Exchanges a password, PAT or identity token for a Hub access token: `POST /v2/auth/token`, or the older
   * `POST /v2/users/login` where the former does not exist (404/405).
   */
  async signIn(username: string, credential: HubCredential): Promise<string> {
    const what = 'POST /v2/auth/token';
    const reply = await this.call({ method: 'POST', path: '/v2/auth/token', what, json: { identifier: username, secret: credential.secret } });
    if (reply.status === 200) return parseReply(what, reply, tokenReply).access_token;
    if (reply.status !== 404 && reply.status !== 405) throw statusFailure(what, reply);
    const legacy = 'POST /v2/users/login';
    const login = await this.call({ method: 'POST', path: '/v2/users/login', what: legacy, json: { username, password: credential.secret } });
    if (login.status !== 200) throw statusFailure(legacy, login);
    return parseReply(legacy, login, loginReply).token;
  }

  /** Every organisation of the token's user, following `next` links on the Hub's own origin only. */
  async userOrgs(token: string): Promise<HubOrgMembership[]> {
    const memberships: HubOrgMembership[] = [];
    let url: string | undefined = `${this.baseUrl}/v2/user/orgs/?page_size=100`;
    for (let page = 1; url !== undefined; page++) {
      const what = `GET /v2/user/orgs/ (page ${page})`;
      if (page > MAX_ORG_PAGES) throw new RemoteError('bad-reply', `${what}: more than ${MAX_ORG_PAGES} pages`);
      const reply = await this.send({ method: 'GET', url, what, headers: bearer(token) });
      if (reply.status !== 200) throw statusFailure(what, reply);
      const body = parseReply(what, reply, orgsPage);
      for (const org of body.results) {
        memberships.push({ orgname: org.orgname.toLowerCase(), role: (org.user_role ?? org.role ?? '').toLowerCase() });
      }
      url = body.next ? this.sameOrigin(what, body.next) : undefined;
    }
    return memberships;
  }

  /** `restricted_images` of an organisation; Hub lets only signed-in members read it. */
  async orgSettings(org: string, token: string): Promise<RestrictedImages> {
    const path = `/v2/orgs/${encodeURIComponent(org)}/settings`;
    const what = `GET ${path}`;
    const reply = await this.call({ method: 'GET', path, what, headers: bearer(token) });
    if (reply.status !== 200) throw statusFailure(what, reply);
    return toRestrictedImages(parseReply(what, reply, settingsReply).restricted_images);
  }

  /** The badge of a Hub namespace; undefined for community namespaces, user namespaces (404) and unknown badges. */
  async namespaceBadge(namespace: string): Promise<Badge | undefined> {
    const path = `/v2/orgs/${encodeURIComponent(namespace)}/`;
    const what = `GET ${path}`;
    const reply = await this.call({ method: 'GET', path, what });
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw statusFailure(what, reply);
    const badge = parseReply(what, reply, namespaceReply).badge?.toLowerCase();
    return badge !== undefined && isBadge(badge) ? badge : undefined;
  }

  private call(request: Omit<RemoteRequest, 'url'> & { path: string }): Promise<RemoteReply> {
    return this.send({ ...request, url: `${this.baseUrl}${request.path}` });
  }

  private send(request: RemoteRequest): Promise<RemoteReply> {
    return send(this.http, request, this.timeoutMs, this.report, this.gate);
  }

  /** A `next` link elsewhere would receive the user's bearer token: refuse it. */
  private sameOrigin(what: string, next: string): string {
    let url: URL;
    try {
      url = new URL(next, this.baseUrl);
    } catch {
      throw new RemoteError('bad-reply', `${what}: unreadable next link`);
    }
    if (url.origin !== new URL(this.baseUrl).origin) throw new RemoteError('bad-reply', `${what}: next link leaves ${new URL(this.baseUrl).origin}`);
    return url.toString();
  }
}

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
