import { sshTarget } from '../engine/ssh-config.ts';
import { chmExamples, chmSchema, type ChmConfig } from './config.ts';
import { chmInput } from './from-spec.ts';
import { specExamples } from '../migrate/spec.ts';

/** migrate-chm's and cleanup-chm's --config: a CHM config, or a spec in CHM's shape (runbooks/specs/chm.yaml). */
export const chmConfigSchema = chmInput(chmSchema);

/** What every CHM runbook shares: the config and its default, and the SSH target (the runner owns the host lock). */
export const chmRunbookBase = {
  defaultConfig: 'runbooks/chm.lab.yaml',
  schema: chmConfigSchema,
  examples: { ...specExamples, ...chmExamples },
  ssh: (c: ChmConfig) => sshTarget(c.ssh),
};
