import type { DownloadCommand, RemoteCommand } from '../engine/command.ts';
import * as data from '../migrate/ops.ts';
import type { ChmConfig } from './config.ts';
import type { DataName } from './facts.ts';
import { nginxTlsMounts } from './deploy-files.ts';

/**
 * The CHM runbook's own operations: the shared data machinery (src/migrate/ops.ts) with CHM's values
 * filled in (its helper image, its app dir, its gate file and nginx container), and MediaHub's pg_dump.
 */

export interface DataSet extends data.VolumeSet {
  name: DataName;
  /** Its name under chatbot.dir (sync-back writes beside it). */
  rel: string;
}

export function pgDump(c: ChmConfig, localPath: string): DownloadCommand {
  const pg = c.mediahub.postgres;
  return { kind: 'download', argv: ['docker', 'exec', pg.container, 'pg_dump', '-U', pg.user, pg.db], localPath, label: 'mediahub pg_dump', says: `dump MediaHub's database ${pg.db} (container ${pg.container}) to ${localPath}` };
}

export const restoreVolumes = (c: ChmConfig, runId: string, sets: DataSet[], owner: string) => data.restoreVolumes(c.helperImage, runId, sets.map((d) => ({ ...d, owner })));
export const verifyVolumes = (c: ChmConfig, runId: string, sets: DataSet[]) => data.verifyVolumes(c.helperImage, runId, sets);
export const cutoverHelper = (c: ChmConfig, runId: string, sets: DataSet[]) => data.cutoverHelper(c.helperImage, runId, sets);
export const syncBack = (c: ChmConfig, runId: string, sets: DataSet[]) => data.syncBack(c.helperImage, runId, sets, c.chatbot.dir);

/** The chatbot's gate file, replaced by rename (the dir is the app account's, and mounted), and nginx reloaded. */
export function setGate(c: ChmConfig, runId: string, open: boolean): RemoteCommand {
  return data.setGate(`${c.deployDir}/gate/chatbot.conf`, `${c.chatbot.owner}:${c.chatbot.owner}`, 'nginx-proxy', data.gateConf(runId, open), open);
}

/** `nginx -t` on the uploaded config, in a throwaway nginx container on MediaHub's network. */
export const nginxTest = (c: ChmConfig) => data.nginxTest(c.deployDir, c.mediahub.network, nginxTlsMounts(c));
