import { sshTarget } from '../engine/ssh-config.ts';
import { chmExamples, chmSchema, type ChmConfig } from './config.ts';

/** What every CHM runbook shares: the config and its default, and the SSH target (the runner owns the host lock). */
export const chmRunbookBase = {
  defaultConfig: 'runbooks/chm.lab.yaml',
  schema: chmSchema,
  examples: chmExamples,
  ssh: (c: ChmConfig) => sshTarget(c.ssh),
};
