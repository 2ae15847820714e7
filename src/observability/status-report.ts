/**
 * The `/status` document: written by the admin listener, read back by `image-access status`, which parses it here
 * (it comes over a socket, from whatever process answers there).
 */
import { z } from 'zod';

const counts = z.object({ allow: z.number(), deny: z.number(), warn: z.number() });

export const healthReportSchema = z.object({
  ok: z.boolean(),
  policySource: z.string(),
  organization: z.string().nullable(),
  policyAgeSeconds: z.number().nullable(),
  lastRefreshError: z.string().nullable(),
});

export const statusReportSchema = z.object({
  version: z.string(),
  mode: z.enum(['enforce', 'warn']),
  failMode: z.enum(['closed', 'open']),
  uptimeSeconds: z.number(),
  identity: z.object({ user: z.string().nullable(), source: z.string() }),
  policy: healthReportSchema.extend({ fetchedAt: z.string().nullable(), version: z.string().nullable(), note: z.string().nullable().default(null) }),
  decisions: counts,
});

export type HealthReport = z.infer<typeof healthReportSchema>;
export type StatusReport = z.infer<typeof statusReportSchema>;

/** An admin listener reply's body as `schema` says; undefined when it is not one (not JSON, or another shape). */
export function parseReply<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, body: string): T | undefined {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}

/** The `/status` reply's body as a StatusReport; undefined when it is not one. */
export const parseStatusReport = (body: string): StatusReport | undefined => parseReply(statusReportSchema, body);
