/** The audit's three outputs: a terminal table (colour on a TTY), audit.md, and JSON. */
import { formatBytes } from '../util/bytes.ts';
import { CHECKS, MARK, type CheckResult, type Evidence } from './checks.ts';
import type { ImageReport } from './audit.ts';

export interface AuditReport {
  runId: string;
  host: string;
  images: ImageReport[];
  /** fatal checks that failed, "image: check" */
  fatalFailures: string[];
  exitCode: 0 | 1;
  report?: string;
  /** wall time and peak resident memory of this audit process */
  stats?: { seconds: number; maxRssMB: number };
}

const evLine = (e: Evidence) => {
  const where = [e.layer ? `layer ${e.layer}${e.layerId ? ` ${e.layerId}` : ''}` : '', e.instruction ?? '']
    .filter(Boolean)
    .join(', ');
  return `${e.what}${where && !e.what.includes(e.instruction ?? '\0') ? ` [${where}]` : ''}`;
};

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - [...s].length));

/** Beside an image's name: id, size, layers; for a Dockerfile audited without an image, that there is none. */
const headline = (img: ImageReport) =>
  img.id === undefined
    ? 'Dockerfile only, no image: – marks what needs one'
    : `${img.id.replace(/^sha256:/, '').slice(0, 12)}  ${formatBytes(img.size ?? 0)}, ${img.layers ?? 0} layers`;

/** "3 images on HOST: …" or "1 Dockerfile (no image): …, 4 not decided without an image". */
function totals(r: AuditReport): string {
  const n = r.images.length;
  const count = (s: string) => r.images.reduce((k, i) => k + i.checks.filter((x) => x.status === s).length, 0);
  const failed = count('fail');
  const undecided = count('undecided');
  const what = r.images.every((i) => i.id === undefined)
    ? `${n} Dockerfile${n === 1 ? '' : 's'} (no image)`
    : `${n} image${n === 1 ? '' : 's'} on ${r.host}`;
  const f = r.fatalFailures;
  const fatal = f.length ? `, ${f.length} fatal (${f.join(', ')}): exit 1` : '';
  const open = undecided ? `, ${undecided} not decided without an image` : '';
  const verdict = failed
    ? `${failed} check${failed > 1 ? 's' : ''} failed`
    : undecided
      ? 'no check failed'
      : 'every check passed';
  return `${what}: ${verdict}${open}${fatal}`;
}

export function renderTerminal(r: AuditReport, color: boolean): string {
  const c = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const mark = (x: CheckResult) =>
    x.status === 'pass' ? c('32', MARK.pass) : x.status === 'fail' ? c('31', MARK.fail) : c('2', MARK[x.status]);
  const width = process.stdout.columns && color ? process.stdout.columns : 160;
  const out: string[] = [];
  for (const img of r.images) {
    out.push(c('1', `${img.image}`) + `  ${headline(img)}`);
    out.push(c('2', `  ${pad('', 2)}${pad('check', 16)}${pad('CIS', 11)}${pad('dockle', 13)}result`));
    for (const x of img.checks) {
      const meta = CHECKS[x.id];
      const head = `  ${mark(x)} ${pad(x.id, 16)}${pad(meta.cis, 11)}${pad(meta.dockle, 13)}`;
      const fatal = x.fatal && x.status === 'fail' ? c('31;1', ' [fatal]') : '';
      const room = Math.max(30, width - 45);
      out.push(`${head}${x.summary.length > room ? `${x.summary.slice(0, room - 1)}…` : x.summary}${fatal}`);
      if (x.status !== 'fail') continue;
      for (const e of x.evidence) out.push(`${' '.repeat(6)}- ${evLine(e)}`);
      if (x.fix) out.push(`${' '.repeat(6)}${c('36', 'fix:')} ${x.fix}`);
    }
    out.push('');
  }
  out.push(totals(r));
  if (r.report) out.push(`report: ${r.report}`);
  return `${out.join('\n')}\n`;
}

const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(r: AuditReport, when = new Date()): string {
  const out: string[] = [
    `# Image audit ${r.runId}`,
    '',
    `Host: ${r.host}. ${when.toISOString()}. Checks map to the CIS Docker Benchmark (v1.6.0 numbering) and dockle checkpoints.`,
    '',
  ];
  if (r.fatalFailures.length) out.push(`**Fatal failures (exit 1):** ${r.fatalFailures.join(', ')}`, '');
  for (const img of r.images) {
    const head =
      img.id === undefined ? headline(img) : `\`${img.id}\`, ${formatBytes(img.size ?? 0)}, ${img.layers ?? 0} layers`;
    out.push(`## ${img.image}`, '', head, '', '| | check | CIS | dockle | result |', '|---|---|---|---|---|');
    for (const x of img.checks)
      out.push(
        `| ${MARK[x.status]} | ${x.id}${x.fatal ? ' (fatal)' : ''} | ${CHECKS[x.id].cis} | ${CHECKS[x.id].dockle} | ${md(x.summary)} |`,
      );
    out.push('');
    for (const x of img.checks.filter((y) => y.status === 'fail')) {
      out.push(`### ✗ ${x.id}: ${CHECKS[x.id].title}`, '', md(x.summary), '');
      for (const e of x.evidence) out.push(`- ${md(evLine(e))}`);
      if (x.fix) out.push('', `**Fix:** ${md(x.fix)}`);
      out.push('');
    }
  }
  return `${out.join('\n')}\n`;
}
