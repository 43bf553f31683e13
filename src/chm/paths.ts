import { HOST_STATE } from '../engine/files.ts';

/**
 * Where the CHM runbooks keep their state on the host (never removed by a rollback). AGENT is the host
 * agent, src/agent/ as one zip (src/engine/host-tool.ts) uploaded for each run: `python3 AGENT ARGS`.
 */
export const AGENT = `${HOST_STATE}/agent.pyz`;
/** One file per volume a rollback kept (it may hold writes the containers took), holding the run id. */
export const KEPT_VOLUMES = `${HOST_STATE}/kept-volumes`;
export const hostBackupDir = (runId: string) => `${HOST_STATE}/backups/${runId}`;
