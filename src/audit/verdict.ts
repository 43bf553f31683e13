/**
 * Verdicts of the Dockerfile-only audit (prebuild.ts): evidence pointing at a Dockerfile line, the
 * "needs an image" summary, and a check split into what the Dockerfile alone decides and what only
 * the image can tell.
 */
import { result, type CheckId, type CheckResult, type Decided, type Evidence } from './checks.ts';
import { describe, type DockerfileFacts, type Instr } from './dockerfile.ts';

/** The summary of a check only the image can decide: what it needs first, then what was seen. */
export const needsImage = (what: string, seen = '') =>
  `needs an image (${what}): run with --image NAME${seen ? `; ${seen}` : ''}`;

export const at = (df: DockerfileFacts, i: Instr): Evidence => ({
  what: '',
  instruction: describe(df.path, i),
  file: df.path,
  line: i.line,
});

export const finalFrom = (df: DockerfileFacts) => df.stages[df.stages.length - 1].from;

export const fromEvidence = (df: DockerfileFacts, what: string): Evidence => {
  const fr = finalFrom(df);
  return { what, instruction: `${df.path}:${fr.line} FROM ${fr.image}`, file: df.path, line: fr.line };
};

/** " (line 4)", " (lines 4, 9)", or nothing. */
export const linesText = (lines: number[]) =>
  lines.length ? ` (line${lines.length > 1 ? 's' : ''} ${lines.join(', ')})` : '';

export interface Partly {
  /** What the Dockerfile alone decides. */
  decided: Decided;
  /** What only the image can tell, if anything. */
  needs?: string;
  evidence?: Evidence[];
  fix?: string;
}

/**
 * A check the Dockerfile decides in part. Its status: ✗ when the Dockerfile's part fails (the built
 * image fails too), – (undecided) while something needs the image, else ✓. An undecided summary
 * says what it needs first, then what the Dockerfile passed and on which lines; a ✗ says what
 * failed, its lines in the evidence (as every ✗).
 */
export function partly(id: CheckId, p: Partly): CheckResult {
  const { needs } = p;
  const decided = { ...p.decided, lines: [...new Set(p.decided.lines)] };
  const status = decided.status === 'fail' ? 'fail' : needs ? 'undecided' : 'pass';
  const shown = `${decided.what}${linesText(decided.lines)}`;
  const summary =
    status === 'undecided' ? needsImage(needs!, `Dockerfile ✓ ${shown}`) : status === 'pass' ? shown : decided.what;
  return {
    ...result(id, status, summary, p.evidence ?? [], p.fix),
    decided,
    ...(needs ? { needs } : {}),
  };
}
