import { HOST_STATE } from '../engine/files.ts';

/** Where the CHM runbooks keep their state on the host (never removed by a rollback). */
export const AGENT = `${HOST_STATE}/agent.py`;
/** One file per volume a rollback kept (it may hold writes the containers took), holding the run id. */
export const KEPT_VOLUMES = `${HOST_STATE}/kept-volumes`;
export const hostBackupDir = (runId: string) => `${HOST_STATE}/backups/${runId}`;
