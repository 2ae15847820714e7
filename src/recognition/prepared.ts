/**
 * An AuthZReq body read into what the decision needs: the wire fields and the recognised route, the request body
 * dropped once recognition has read it. Done in one place whether it runs on the main thread or in a body worker
 * (protocol/body-parsers.ts), so both give the same answer.
 */
import { parseAuthZRequest, type AuthZRequest } from '../protocol/wire';
import { recognize } from './recognize';
import type { RecognizedRequest } from './recognized';

export type PreparedRequest =
  | { readonly ok: true; readonly request: AuthZRequest; readonly recognized: RecognizedRequest }
  | { readonly ok: false; readonly error: string };

export function prepareRequest(body: string): PreparedRequest {
  const parsed = parseAuthZRequest(body);
  if (!parsed.ok) return parsed;
  const recognized = recognize(parsed.request);
  const { request } = parsed;
  // A request without a body (a pull, nearly every call) is kept as it is.
  return { ok: true, request: request.requestBody === '' ? request : { ...request, requestBody: '' }, recognized };
}
