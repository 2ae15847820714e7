/**
 * The Docker AuthZ plugin wire format (moby pkg/authorization/api.go), as the real daemon sends it:
 * JSON with no Content-Type, keys decoded case-insensitively (last duplicate wins), `RequestUri` spelled so.
 */

export const PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface AuthZRequest {
  readonly user: string;
  readonly userAuthNMethod: string;
  readonly requestMethod: string;
  readonly requestUri: string;
  /** Still base64, as sent: decoded only by the routes that read a body. */
  readonly requestBody: string;
  /** Header names lowercased, so lookups need not care how the daemon spelled them. */
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly responseStatusCode: number;
}

export interface AuthZReply {
  readonly Allow: boolean;
  readonly Msg: string;
}

/** The reply to nearly every call: one object, so the server writes its JSON serialised once (server.ts). */
export const ALLOW: AuthZReply = Object.freeze({ Allow: true, Msg: '' });

/** A request as the daemon would send it with no user, headers or body: for the plugin's own probes and `check`. */
export function bareRequest(requestMethod: string, requestUri: string): AuthZRequest {
  return { user: '', userAuthNMethod: '', requestMethod, requestUri, requestBody: '', requestHeaders: {}, responseStatusCode: 0 };
}

/** What an AuthZReq is about, read from the start of its body: enough to tell whether its body matters. */
export interface AuthZHead {
  readonly method: string;
  readonly uri: string;
}

const HEAD_STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const HEAD_SPACE = /[ \t\n\r]*/y;
/** dockerd marshals its AuthZRequest struct in field order, once each: these lead, before RequestBody and the headers. */
const HEAD_FIELDS = new Set(['user', 'userauthnmethod', 'requestmethod', 'requesturi']);

/**
 * The method and URI of an AuthZReq from the first part of its body, without reading the rest (a RequestBody of
 * megabytes, headers of megabytes once escaped). dockerd writes `{"User":...,"UserAuthNMethod":...,"RequestMethod":
 * ...,"RequestUri":...,"RequestBody":...`: undefined for anything else, or when `prefix` ends before both are read.
 */
export function parseAuthZHead(prefix: string): AuthZHead | undefined {
  const fields = new Map<string, string>();
  let at = 0;
  const next = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    const found = pattern.exec(prefix);
    if (found === null) return undefined;
    at += found[0].length;
    return found[0];
  };
  next(HEAD_SPACE);
  if (prefix[at++] !== '{') return undefined;
  while (!(fields.has('requestmethod') && fields.has('requesturi'))) {
    next(HEAD_SPACE);
    const key = next(HEAD_STRING);
    if (key === undefined) return undefined;
    const name = (JSON.parse(key) as string).toLowerCase();
    next(HEAD_SPACE);
    if (!HEAD_FIELDS.has(name) || fields.has(name) || prefix[at++] !== ':') return undefined;
    next(HEAD_SPACE);
    const value = next(HEAD_STRING);
    if (value === undefined) return undefined;
    fields.set(name, JSON.parse(value) as string);
    next(HEAD_SPACE);
    if (prefix[at++] !== ',') return undefined;
  }
  return { method: fields.get('requestmethod')!, uri: fields.get('requesturi')! };
}

export const ACTIVATE_REPLY = { Implements: ['authz'] } as const;

export type WireParseResult = { ok: true; request: AuthZRequest } | { ok: false; error: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The struct fields read from an AuthZReq, by lowercased key. */
const STRING_FIELDS = ['user', 'userauthnmethod', 'requestmethod', 'requesturi', 'requestbody'] as const;
const FIELDS = [...STRING_FIELDS, 'requestheaders', 'responsestatuscode'] as const;
type FieldKey = (typeof FIELDS)[number];
const FIELD_KEYS: ReadonlySet<string> = new Set(FIELDS);
/** The keys as dockerd spells them (its AuthZRequest struct), lowercased once rather than on every call. */
const LOWERED: ReadonlyMap<string, string> = new Map(
  ['User', 'UserAuthNMethod', 'RequestMethod', 'RequestUri', 'RequestBody', 'RequestHeaders', 'RequestPeerCertificates', 'ResponseStatusCode', 'ResponseBody', 'ResponseHeaders'].map(
    (key) => [key, key.toLowerCase()],
  ),
);

function stringField(value: unknown, key: string): string | Error {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : new Error(`${key} must be a string`);
}

/**
 * Parses an AuthZReq/AuthZRes body. Go's JSON decoder rejects a wrongly typed field, and so do we: the daemon never
 * sends one, so such a body is not from the daemon.
 */
export function parseAuthZRequest(body: string): WireParseResult {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return { ok: false, error: 'body is not JSON' };
  }
  if (!isRecord(data)) return { ok: false, error: 'body is not a JSON object' };
  // Keys matched case-insensitively, the last that matches a field winning, as Go's encoding/json fills a struct; in
  // one pass that keeps only the fields read (the rest of an AuthZRes is the API's reply).
  const fields: Partial<Record<FieldKey, unknown>> = {};
  for (const key of Object.keys(data)) {
    const folded = LOWERED.get(key) ?? key.toLowerCase();
    if (FIELD_KEYS.has(folded)) fields[folded as FieldKey] = data[key];
  }
  const strings: Partial<Record<(typeof STRING_FIELDS)[number], string>> = {};
  for (const key of STRING_FIELDS) {
    const value = stringField(fields[key], key);
    if (value instanceof Error) return { ok: false, error: value.message };
    strings[key] = value;
  }
  const { user, userauthnmethod: userAuthNMethod, requestmethod: requestMethod, requesturi: requestUri, requestbody: requestBody } = strings;

  const rawHeaders = fields.requestheaders;
  const requestHeaders: Record<string, string> = {};
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (!isRecord(rawHeaders)) return { ok: false, error: 'requestheaders must be an object' };
    for (const name of Object.keys(rawHeaders)) {
      const value = rawHeaders[name];
      if (typeof value !== 'string') return { ok: false, error: 'requestheaders values must be strings' };
      requestHeaders[name.toLowerCase()] = value;
    }
  }
  const status = fields.responsestatuscode;
  if (status !== undefined && status !== null && !Number.isInteger(status)) {
    return { ok: false, error: 'responsestatuscode must be an integer' };
  }
  return {
    ok: true,
    request: {
      user: user!,
      userAuthNMethod: userAuthNMethod!,
      requestMethod: requestMethod!,
      requestUri: requestUri!,
      requestBody: requestBody!,
      requestHeaders,
      responseStatusCode: typeof status === 'number' ? status : 0,
    },
  };
}
