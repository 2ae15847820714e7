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

/** A request as the daemon would send it with no user, headers or body: for the plugin's own probes and `check`. */
export function bareRequest(requestMethod: string, requestUri: string): AuthZRequest {
  return { user: '', userAuthNMethod: '', requestMethod, requestUri, requestBody: '', requestHeaders: {}, responseStatusCode: 0 };
}

export const ACTIVATE_REPLY = { Implements: ['authz'] } as const;

export type WireParseResult = { ok: true; request: AuthZRequest } | { ok: false; error: string };

/** Fields by lowercased key, last duplicate winning, as Go's encoding/json fills a struct. */
function foldKeys(record: Record<string, unknown>): Map<string, unknown> {
  const folded = new Map<string, unknown>();
  for (const [key, value] of Object.entries(record)) folded.set(key.toLowerCase(), value);
  return folded;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function stringField(fields: Map<string, unknown>, key: string): string | Error {
  const value = fields.get(key);
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
  const fields = foldKeys(data);
  const strings = ['user', 'userauthnmethod', 'requestmethod', 'requesturi', 'requestbody'].map((key) =>
    stringField(fields, key),
  );
  const problem = strings.find((value): value is Error => value instanceof Error);
  if (problem) return { ok: false, error: problem.message };
  const [user, userAuthNMethod, requestMethod, requestUri, requestBody] = strings as string[];

  const rawHeaders = fields.get('requestheaders');
  const requestHeaders: Record<string, string> = {};
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (!isRecord(rawHeaders)) return { ok: false, error: 'requestheaders must be an object' };
    for (const [name, value] of Object.entries(rawHeaders)) {
      if (typeof value !== 'string') return { ok: false, error: 'requestheaders values must be strings' };
      requestHeaders[name.toLowerCase()] = value;
    }
  }
  const status = fields.get('responsestatuscode');
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
