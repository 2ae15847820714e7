/** This machine's latest denials (and warn-mode would-be denials), kept in memory for `image-access policy` and the page. */
import type { DecisionEvent, DecisionObserver } from './events';

export interface DeniedPull {
  readonly time: number;
  readonly image: string;
  readonly decision: 'deny' | 'warn';
  readonly rule: string;
  readonly user?: string;
}

/** Enough to see a pattern; the audit log has the rest. */
export const RECENT_DENIALS_KEPT = 20;

export class RecentDenials implements DecisionObserver {
  private readonly kept: DeniedPull[] = [];

  decided(event: DecisionEvent): void {
    if (event.decision === 'allow') return;
    const { time, image, decision, rule, user } = event;
    this.kept.unshift({ time, image, decision, rule, ...(user === undefined ? {} : { user }) });
    this.kept.length = Math.min(this.kept.length, RECENT_DENIALS_KEPT);
  }

  /** Newest first. */
  list(): readonly DeniedPull[] {
    return [...this.kept];
  }
}
