import { sshTarget } from '../engine/ssh-config.ts';
import { chmExamples, chmSchema, type ChmConfig } from './config.ts';
import { LOCK_DIR } from './steps.ts';

/** What every CHM runbook shares: the config and its default, the SSH target, and the host lock. */
export const chmRunbookBase = {
  defaultConfig: 'runbooks/chm.lab.yaml',
  schema: chmSchema,
  examples: chmExamples,
  ssh: (c: ChmConfig) => sshTarget(c.ssh),
  lockDir: () => LOCK_DIR,
};
