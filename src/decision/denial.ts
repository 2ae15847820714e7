/**
 * What every denial adds to its rule's message, so the developer can act on it without asking around: the rule, who
 * the plugin took them to be and where it looked (names and places, never a secret), and whom to ask.
 */
import type { Identity } from '../subject/subject';
import type { Decision } from './decide';

export interface DenialContext {
  /** Who the plugin saw; absent when it did not get that far (an invalid reference, a deadline). */
  readonly identity?: Identity;
  /** The policy's `admin_contact`, else IMAGE_ACCESS_ADMIN_CONTACT. */
  readonly contact?: string;
}

/** The daemon shows the message in full, on one line: a bound keeps a denial readable, and cheap to log. */
export const MAX_MESSAGE_CHARS = 2000;

function whoText(identity: Identity): string {
  const where = identity.lookedIn === undefined ? '' : ` in ${identity.lookedIn}`;
  if (identity.username === undefined) return `nobody is signed in (looked${where === '' ? ' in every identity source' : where})`;
  return `signed in as ${identity.username} (found by ${identity.source}${where})`;
}

/** The denial's full message; an allowed decision has none. */
export function denialMessage(decision: Decision, context: DenialContext): string {
  if (decision.allow) return '';
  const parts = [`rule ${decision.rule}`];
  if (context.identity !== undefined) parts.push(whoText(context.identity));
  const help = context.contact === undefined ? 'ask your Docker administrator' : context.contact;
  const message = `${decision.message} [image-access: ${parts.join('; ')}. Help: ${help}]`;
  if (message.length <= MAX_MESSAGE_CHARS) return message;
  return `${message.slice(0, MAX_MESSAGE_CHARS)}...[cut: ${message.length - MAX_MESSAGE_CHARS} more characters]`;
}
