/**
 * Cron jobs that belong to the app (#32, #33): after the cutover one would go on writing bare metal's copy,
 * which nobody reads again. Preflight reads every crontab on the host as root (each user's spool file, the
 * system's crontab and cron.d) and names, in one line each, an entry that runs as the app's owner or whose line
 * names a data set's dir or a service's code dir. The operator disables it before the migration (and runs it in
 * the new world); nothing here edits a crontab.
 */
import { sudo, type RemoteCommand } from '../engine/command.ts';
import type { Spec } from './spec.ts';

/** Prints `SOURCE<TAB>USER<TAB>LINE` per active entry: user crontabs (Debian's and Red Hat's spool), /etc/crontab, /etc/cron.d. */
const LIST = String.raw`for f in /var/spool/cron/crontabs/* /var/spool/cron/*; do
  [ -f "$f" ] || continue; u=$(basename "$f")
  grep -vE '^[[:space:]]*(#|$)|^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*=' "$f" | while IFS= read -r l; do printf '%s\t%s\t%s\n' "$f" "$u" "$l"; done
done
for f in /etc/crontab /etc/cron.d/*; do
  [ -f "$f" ] || continue
  grep -vE '^[[:space:]]*(#|$)|^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*=' "$f" | while IFS= read -r l; do
    set -f; set -- $l; set +f
    case $1 in @*) u=$2 ;; *) u=$6 ;; esac
    printf '%s\t%s\t%s\n' "$f" "$u" "$l"
  done
done
exit 0`;

export const cronProbe = (): RemoteCommand => sudo(['sh', '-c', LIST], { reads: true });

/** The dirs whose mention in a cron line makes it the app's: each file data set's and each service's build context. */
function appDirs(s: Spec): { dir: string; field: string }[] {
  return [
    ...Object.entries(s.data)
      .filter(([, d]) => d.kind !== 'postgres')
      .map(([k, d]) => ({ dir: d.path, field: `data.${k}.path` })),
    ...Object.entries(s.services).flatMap(([k, v]) =>
      'context' in v.build ? [{ dir: v.build.context, field: `services.${k}.build.context` }] : [],
    ),
  ];
}

/** A path mentioned as a whole path component run: /srv/app matches /srv/app and /srv/app/x, not /srv/apple. */
const mentions = (line: string, dir: string) => {
  const d = dir.replace(/\/+$/, '');
  for (let i = line.indexOf(d); i >= 0; i = line.indexOf(d, i + 1)) {
    const after = line[i + d.length];
    if (after === undefined || !/[\w.-]/.test(after)) return true;
  }
  return false;
};

/** [field, message] for each cron entry that is the app's, from the probe's output. */
export function cronProblems(s: Spec, listing: string): [string, string][] {
  const out: [string, string][] = [];
  for (const row of listing.split('\n')) {
    const [file, user, ...rest] = row.split('\t');
    const line = rest.join('\t').trim();
    if (!file || !line) continue;
    const hit = appDirs(s).find((a) => mentions(line, a.dir));
    if (!hit && user !== s.owner) continue;
    const why = hit ? `it names ${hit.dir}` : `it runs as ${s.owner}, the data's owner`;
    const fix = file.startsWith('/var/spool/') ? `crontab -u ${user} -e` : `edit ${file}`;
    out.push([
      hit?.field ?? 'owner',
      `a cron job of ${user} in ${file} (\`${line}\`) is the app's (${why}): after the cutover it would write bare metal's copy, which nobody reads again. Disable it before migrating (${fix}) and run it in the new world: a spec service with a \`schedule\` (its command and period) and the data it writes`,
    ]);
  }
  return out;
}
