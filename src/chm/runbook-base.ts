import { sshTarget } from '../engine/ssh-config.ts';
import { chmExamples, chmSchema, type ChmConfig } from './config.ts';
import { chmInput } from './from-spec.ts';
import { specExamples } from '../migrate/spec.ts';

/** migrate-chm's and cleanup-chm's --config: a CHM config, or a spec in CHM's shape (runbooks/specs/chm.yaml). */
export const chmConfigSchema = chmInput(chmSchema);

/**
 * What every CHM runbook shares: the config and its default, and the SSH target (the runner owns the host lock).
 * The default is CHM's spec (the same config field for field as runbooks/chm.lab.yaml: src/chm/from-spec.test.ts),
 * so every run without --config, each test's too, goes through the spec.
 */
export const chmRunbookBase = {
  defaultConfig: 'runbooks/specs/chm.yaml',
  schema: chmConfigSchema,
  examples: { ...specExamples, ...chmExamples },
  ssh: (c: ChmConfig) => sshTarget(c.ssh),
};
