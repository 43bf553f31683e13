/** Where the CHM runbooks keep their state on the host (never removed by a rollback): the shared places of src/migrate/ops.ts. */
export { AGENT, KEPT_VOLUMES, hostBackupDir } from '../migrate/ops.ts';
