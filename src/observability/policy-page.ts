/** The policy summary as one self-contained, read-only HTML page: no script, no external asset, everything escaped. */
import type { PolicySummary } from './policy-summary';

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Served with the page: nothing but its own inline style may load or run. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:52rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #dde}
.note{background:#fff4d6;border-left:4px solid #e0a800;padding:.5rem .8rem}.bad{background:#fde2e2;border-left:4px solid #c62828;padding:.5rem .8rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
code{font-family:ui-monospace,monospace;font-size:.92em}.on{color:#1b7f3b;font-weight:600}.off{color:#a15c00;font-weight:600}`;

function items(list: readonly string[] | null, none: string): string {
  if (list === null) return `<p>${escapeHtml(none)}</p>`;
  if (list.length === 0) return '<p>(empty)</p>';
  return `<ul>${list.map((item) => `<li><code>${escapeHtml(item)}</code></li>`).join('')}</ul>`;
}

export function policyPage(summary: PolicySummary): string {
  const e = escapeHtml;
  const title = summary.organization === null ? 'No policy in force' : `Image Access Management: ${summary.organization}`;
  const state =
    summary.organization === null
      ? `<p class="bad">No policy is in force: ${e(summary.unavailable ?? 'unknown')}</p>`
      : `<p>Image Access Management is <span class="${summary.imageAccessManagement ? 'on">on' : 'off">off'}</span> for organization <strong>${e(summary.organization)}</strong>.</p>`;
  const denials =
    summary.recentDenials.length === 0
      ? '<p>None since the plugin started.</p>'
      : `<table><tr><th>time (UTC)</th><th>image</th><th>rule</th><th>user</th></tr>${summary.recentDenials
          .map((d) => `<tr><td>${e(d.time)}</td><td><code>${e(d.image)}</code>${d.decision === 'warn' ? ' (warn mode: let through)' : ''}</td><td>${e(d.rule)}</td><td>${e(d.user ?? '-')}</td></tr>`)
          .join('')}</table>`;
  const signedIn = summary.signedIn;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(title)}</title><style>${STYLE}</style></head>
<body><h1>${e(title)}</h1>
${state}
${summary.note === null ? '' : `<p class="note">${e(summary.note)}</p>`}
<h2>Members may pull</h2>${summary.allowed.length === 0 ? '<p>-</p>' : `<ul>${summary.allowed.map((a) => `<li>${e(a)}</li>`).join('')}</ul>`}
<p>Owners: ${summary.ownersCount === null ? 'known to Docker Hub' : summary.ownersCount}</p>
<h2>Repository allowlist</h2>${items(summary.repositoryAllowlist, 'None.')}
<h2>Registry allowlist</h2>${items(summary.registryAllowlist, 'None: every registry.')}
<h2>This machine</h2>
<table><tr><th>signed in</th><td>${e(signedIn.user ?? 'nobody')} <small>(${e(signedIn.source)}${signedIn.lookedIn === null ? '' : `: ${e(signedIn.lookedIn)}`})</small></td></tr>
<tr><th>policy source</th><td><code>${e(summary.source)}</code></td></tr>
<tr><th>fetched</th><td>${e(summary.fetchedAt ?? 'never')}${summary.stale === null ? '' : ` <span class="off">stale: ${e(summary.stale)}</span>`}</td></tr></table>
<h2>Recent denials on this machine</h2>${denials}
</body></html>
`;
}
