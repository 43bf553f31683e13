/**
 * The readiness checklist of seed 003 as named checks, each mapped to the CIS Docker Benchmark
 * (section numbers of v1.6.0) and to dockle's checkpoint ids (goodwithtech/dockle CHECKPOINT.md),
 * so an operator can match this report with theirs.
 */
export const CHECKS = {
  'non-root': { title: 'runs as a non-root user', cis: '4.1', dockle: 'CIS-DI-0001' },
  healthcheck: { title: 'HEALTHCHECK present, its command in the image', cis: '4.6', dockle: 'CIS-DI-0006' },
  secrets: { title: 'no secrets in config, history or layers', cis: '4.10', dockle: 'CIS-DI-0010' },
  toolchain: { title: 'no build toolchain in the final image', cis: '4.3', dockle: 'CIS-DI-0003' },
  'dev-deps': { title: 'no dev dependencies in the final image', cis: '4.3', dockle: 'CIS-DI-0003' },
  'multi-stage': {
    title: 'multi-stage build: the final stage copies from, or is built FROM, an earlier stage',
    cis: '4.3',
    dockle: '–',
  },
  'base-pinned': { title: 'base images pinned (no latest, no untagged)', cis: '4.2', dockle: 'DKL-DI-0006' },
  size: { title: 'image size within budget', cis: '4.3', dockle: '–' },
  dockerignore: {
    title: '.dockerignore keeps secrets and bulk out of the context',
    cis: '4.10',
    dockle: 'DKL-LI-0003',
  },
  'resource-limits': { title: 'memory and CPU limits in compose', cis: '5.10, 5.11', dockle: '–' },
  'restart-policy': { title: 'restart policy in compose', cis: '5.14', dockle: '–' },
} as const;

export type CheckId = keyof typeof CHECKS;
export const CHECK_IDS = Object.keys(CHECKS) as CheckId[];

/**
 * ✓ pass, ✗ fail, – not applicable (nothing to check: no Dockerfile, no compose file), – undecided
 * (what was given cannot tell: a Dockerfile audited without its image; the summary says what it needs).
 */
export type Status = 'pass' | 'fail' | 'na' | 'undecided';
export const MARK: Record<Status, string> = { pass: '✓', fail: '✗', na: '–', undecided: '–' };

export interface Evidence {
  /** What was found, one line. */
  what: string;
  /** 1-based index into the image's layers (RootFS order), when the finding is in a layer. */
  layer?: number;
  /** The layer's diff id (sha256:…), short. */
  layerId?: string;
  /** Path in the image or on the host. */
  file?: string;
  /** "Dockerfile:12 RUN apt-get install gcc" style, when the finding maps to an instruction. */
  instruction?: string;
  /** That instruction's 1-based line in the Dockerfile (set by the Dockerfile-only audit). */
  line?: number;
}

export interface CheckResult {
  id: CheckId;
  status: Status;
  /** One line: what was checked, or why it does not apply. */
  summary: string;
  evidence: Evidence[];
  /** How to fix it (only for ✗). */
  fix?: string;
  fatal?: boolean;
  /**
   * The part of the check the Dockerfile alone decides, with the lines that decide it (set by the
   * Dockerfile-only audit, and by multi-stage, which only the Dockerfile decides). A ✗ here is the
   * check's ✗; a ✓ is the check's ✓ only when nothing `needs` the image.
   */
  decided?: Decided;
  /** A Dockerfile audited without its image: what only the image can tell (then ✓ stays –, undecided). */
  needs?: string;
}

export interface Decided {
  status: 'pass' | 'fail';
  /** One line: what the Dockerfile shows. */
  what: string;
  /** The Dockerfile lines it rests on (the failing ones; for a pass, those checked). */
  lines: number[];
}

export function result(
  id: CheckId,
  status: Status,
  summary: string,
  evidence: Evidence[] = [],
  fix?: string,
): CheckResult {
  return { id, status, summary, evidence, ...(status === 'fail' && fix ? { fix } : {}) };
}
