/**
 * A stand-in Docker Hub API for tests: the endpoints and JSON shapes the plugin uses (docker-facts.md), served by
 * express on 127.0.0.1 at a random port, with configurable users, organisations, settings and badges, per-endpoint
 * request counters and faults on demand (down, slow, status codes, 429 + Retry-After, malformed, wrong shape, huge).
 * Docker Hub itself is unreachable here; this is the other side of the wire, not a mock of our code.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';

export type HubEndpoint = 'token' | 'login' | 'orgs' | 'settings' | 'namespace';
export const HUB_ENDPOINTS: readonly HubEndpoint[] = ['token', 'login', 'orgs', 'settings', 'namespace'];

export type HubFault =
  /** The connection is closed without a reply. */
  | { readonly kind: 'down' }
  /** The reply comes after delayMs (then normally). */
  | { readonly kind: 'slow'; readonly delayMs: number }
  /** An error status; with retryAfterSeconds, a Retry-After header (429). */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterSeconds?: number }
  /** A 200 whose body is not JSON. */
  | { readonly kind: 'malformed' }
  /** A 200 with JSON of another shape. */
  | { readonly kind: 'wrong-shape' }
  /** A 200 with a valid JSON body of about `bytes` bytes. */
  | { readonly kind: 'huge'; readonly bytes: number };

export type HubRole = 'Owner' | 'Member' | 'Editor';

export interface HubUserConfig {
  readonly username: string;
  /** The password and any personal access tokens (`dckr_pat_...`) that sign this user in. */
  readonly secrets: readonly string[];
}

export interface HubSettingsConfig {
  readonly enabled: boolean;
  readonly allowOfficialImages: boolean;
  readonly allowVerifiedPublishers: boolean;
}

export interface HubOrgConfig {
  readonly orgname: string;
  /** Hub badge of the namespace (`verified_publisher`, `open_source`, or any other string); absent: community. */
  readonly badge?: string;
  readonly members?: Readonly<Record<string, HubRole>>;
  readonly settings?: HubSettingsConfig;
}

export interface StandInHubConfig {
  readonly users?: readonly HubUserConfig[];
  readonly orgs?: readonly HubOrgConfig[];
  /** Largest `page_size` honoured by `GET /v2/user/orgs/`, to exercise pagination. */
  readonly maxPageSize?: number;
  /** Origin written into `next` links (default: the stand-in's own); another origin tests that clients refuse it. */
  readonly nextOrigin?: string;
}

interface FaultRule {
  readonly fault: HubFault;
  /** Remaining replies this fault applies to; undefined: until healed. */
  remaining: number | undefined;
}

const SETTINGS_OFF: HubSettingsConfig = { enabled: false, allowOfficialImages: true, allowVerifiedPublishers: true };

export class StandInHub {
  private readonly users = new Map<string, HubUserConfig>();
  private readonly orgs = new Map<string, HubOrgConfig>();
  private readonly tokens = new Map<string, string>();
  private readonly faults = new Map<HubEndpoint, FaultRule>();
  private readonly counts = new Map<HubEndpoint, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: Server;
  private origin = '';

  constructor(private readonly config: StandInHubConfig) {
    for (const user of config.users ?? []) this.setUser(user);
    for (const org of config.orgs ?? []) this.setOrg(org);
    this.server = createServer(this.app());
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`: what IMAGE_ACCESS_HUB_URL is set to. */
  get url(): string {
    return this.origin;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setUser(user: HubUserConfig): void {
    this.users.set(user.username.toLowerCase(), user);
  }

  setOrg(org: HubOrgConfig): void {
    this.orgs.set(org.orgname.toLowerCase(), org);
  }

  setSettings(orgname: string, settings: HubSettingsConfig): void {
    const org = this.requireOrg(orgname);
    this.setOrg({ ...org, settings });
  }

  setRole(orgname: string, username: string, role: HubRole | undefined): void {
    const org = this.requireOrg(orgname);
    const members = { ...org.members };
    if (role === undefined) delete members[username];
    else members[username] = role;
    this.setOrg({ ...org, members });
  }

  /** Every later reply of `endpoint` (or the next `times` ones) misbehaves as `fault` says. */
  fail(endpoint: HubEndpoint | 'all', fault: HubFault, times?: number): void {
    for (const each of endpoint === 'all' ? HUB_ENDPOINTS : [endpoint]) this.faults.set(each, { fault, remaining: times });
  }

  heal(endpoint: HubEndpoint | 'all' = 'all'): void {
    for (const each of endpoint === 'all' ? HUB_ENDPOINTS : [endpoint]) this.faults.delete(each);
  }

  /** Requests received by an endpoint since the start or the last resetCounts(), faulty replies included. */
  requests(endpoint: HubEndpoint): number {
    return this.counts.get(endpoint) ?? 0;
  }

  resetCounts(): void {
    this.counts.clear();
  }

  /** Every access token handed out, so tests can check none of them was logged. */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  /** Forgets every token, as when Hub tokens expire. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private requireOrg(orgname: string): HubOrgConfig {
    const org = this.orgs.get(orgname.toLowerCase());
    if (!org) throw new Error(`stand-in Hub has no organization ${orgname}`);
    return org;
  }

  private issueToken(username: string): string {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = [
      encode({ alg: 'RS256', typ: 'JWT' }),
      encode({ sub: username, iat: now, exp: now + 600, jti: randomBytes(8).toString('hex') }),
      randomBytes(32).toString('base64url'),
    ].join('.');
    this.tokens.set(token, username);
    return token;
  }

  private signIn(identifier: unknown, secret: unknown): string | undefined {
    if (typeof identifier !== 'string' || typeof secret !== 'string') return undefined;
    const user = this.users.get(identifier.toLowerCase());
    return user && user.secrets.includes(secret) ? this.issueToken(user.username) : undefined;
  }

  private bearer(req: Request): string | undefined {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    return match ? this.tokens.get(match[1]!) : undefined;
  }

  /** Counts the request, then applies the endpoint's fault if it has one; otherwise the real handler answers. */
  private endpoint(name: HubEndpoint, handler: (req: Request, res: Response) => void) {
    return (req: Request, res: Response, next: NextFunction) => {
      this.counts.set(name, this.requests(name) + 1);
      const rule = this.faults.get(name);
      if (rule?.remaining !== undefined && --rule.remaining <= 0) this.faults.delete(name);
      const fault = rule?.fault;
      if (!fault) return handler(req, res);
      switch (fault.kind) {
        case 'down':
          req.socket.destroy();
          return;
        case 'slow': {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            if (!res.headersSent && !req.socket.destroyed) {
              try {
                handler(req, res);
              } catch (error) {
                next(error);
              }
            }
          }, fault.delayMs);
          this.timers.add(timer);
          return;
        }
        case 'status':
          if (fault.retryAfterSeconds !== undefined) res.set('Retry-After', String(fault.retryAfterSeconds));
          res.status(fault.status).json({ detail: `stand-in fault ${fault.status}` });
          return;
        case 'malformed':
          res.type('application/json').send('{"detail": "half a reply');
          return;
        case 'wrong-shape':
          res.json({ restricted_images: 'yes', results: 'none', access_token: 42, token: null, badge: 7, count: 'x' });
          return;
        case 'huge':
          res.json({ detail: 'x'.repeat(fault.bytes) });
          return;
      }
    };
  }

  private app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.json());

    app.post(
      '/v2/auth/token',
      this.endpoint('token', (req, res) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const token = this.signIn(body['identifier'], body['secret']);
        if (token) res.json({ access_token: token });
        else res.status(401).json({ errinfo: {}, detail: 'Incorrect authentication credentials', message: 'Incorrect authentication credentials' });
      }),
    );

    app.post(
      '/v2/users/login',
      this.endpoint('login', (req, res) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const token = this.signIn(body['username'], body['password']);
        if (token) res.json({ token });
        else res.status(401).json({ detail: 'Incorrect authentication credentials' });
      }),
    );

    app.get(
      '/v2/user/orgs',
      this.endpoint('orgs', (req, res) => {
        const username = this.bearer(req);
        if (!username) {
          res.status(401).json({ detail: 'authentication required' });
          return;
        }
        const mine = [...this.orgs.values()].filter((org) => org.members?.[username] !== undefined);
        const requested = Number(req.query['page_size'] ?? 25) || 25;
        const pageSize = Math.max(1, Math.min(requested, this.config.maxPageSize ?? 100));
        const page = Math.max(1, Number(req.query['page'] ?? 1) || 1);
        const slice = mine.slice((page - 1) * pageSize, page * pageSize);
        const link = (n: number) => `${this.config.nextOrigin ?? this.origin}/v2/user/orgs/?page=${n}&page_size=${pageSize}`;
        res.json({
          count: mine.length,
          next: page * pageSize < mine.length ? link(page + 1) : null,
          previous: page > 1 ? link(page - 1) : null,
          results: slice.map((org) => ({
            id: org.orgname,
            orgname: org.orgname,
            full_name: org.orgname,
            type: 'Organization',
            ...(org.badge === undefined ? {} : { badge: org.badge }),
            user_role: org.members?.[username],
          })),
        });
      }),
    );

    app.get(
      '/v2/orgs/:org/settings',
      this.endpoint('settings', (req, res) => {
        const username = this.bearer(req);
        const org = this.orgs.get(String(req.params['org']).toLowerCase());
        if (!username) res.status(401).json({ detail: 'authentication required' });
        else if (!org) res.status(404).json({ detail: 'Not found' });
        else if (org.members?.[username] === undefined) res.status(403).json({ detail: 'forbidden' });
        else {
          const settings = org.settings ?? SETTINGS_OFF;
          res.json({
            restricted_images: {
              enabled: settings.enabled,
              allow_official_images: settings.allowOfficialImages,
              allow_verified_publishers: settings.allowVerifiedPublishers,
            },
            session_timeout: 0,
          });
        }
      }),
    );

    app.get(
      '/v2/orgs/:namespace',
      this.endpoint('namespace', (req, res) => {
        const org = this.orgs.get(String(req.params['namespace']).toLowerCase());
        if (!org) {
          res.status(404).json({ detail: 'Not found' });
          return;
        }
        res.json({
          id: org.orgname,
          orgname: org.orgname,
          full_name: org.orgname,
          type: 'Organization',
          ...(org.badge === undefined ? {} : { badge: org.badge }),
        });
      }),
    );

    app.use((_req: Request, res: Response) => {
      res.status(404).json({ detail: 'Not found' });
    });
    return app;
  }
}

/** Starts a stand-in Hub on 127.0.0.1 at a random free port. Stop it with `stop()` (in afterAll/finally). */
export async function startStandInHub(config: StandInHubConfig = {}): Promise<StandInHub> {
  const hub = new StandInHub(config);
  await hub.listen();
  return hub;
}
