import { z } from 'zod';

/**
 * A scheduled job in the new world (#33): on bare metal a systemd timer with its oneshot service, or a cron
 * entry; in the compose project a service of its own whose container runs the job's command on its schedule,
 * with the volumes of the data it writes (it is a writer of those data sets, so it stops with the writers at
 * the cutover and starts once the final parity held, like any worker). Its container stays up between runs;
 * a failed run is logged and the next one still happens, as a timer's next tick would. A schedule here is an
 * interval (`after` the container starts, then `every`), like a timer's OnActiveSec/OnUnitActiveSec: a
 * calendar schedule (OnCalendar=, a cron line) is approximated by its period, which the plan says.
 */

/** A time: a whole number, then s, m, h or d. */
export const interval = z
  .string()
  .regex(/^[1-9][0-9]*(s|m|h|d)$/, 'a time like 30s, 15m, 1h or 1d (a whole number, then s, m, h or d)');

export const scheduleSchema = z
  .object({
    /** The time between two runs, from the end of one to the start of the next. */
    every: interval,
    /** The first run, this long after the container starts (default: every). */
    after: interval.optional(),
    /** What runs, as argv (no shell: a command is its words, each passed as it is written). */
    command: z.array(z.string().min(1)).min(1, "the job's command as argv, like [python3, /app/prune.py]"),
  })
  .strict();
export type Schedule = z.infer<typeof scheduleSchema>;

const UNIT = { s: 1, m: 60, h: 3600, d: 86400 } as const;
/** An interval in seconds. */
export const seconds = (t: string) => Number(t.slice(0, -1)) * UNIT[t.slice(-1) as keyof typeof UNIT];

/**
 * The loop the job's container runs: $0 is the first wait, $1 the period, the rest the command. A failed
 * run says so on stderr (the container's log; printf, so a backslash in a word is printed as it is) and the loop goes on; SIGTERM (compose stop) ends it at once.
 */
const LOOP = `trap 'exit 0' TERM
first=$0; every=$1; shift
sleep "$first" & wait $!
while :; do
  printf 'scheduled job: %s\n' "$*"
  "$@" || printf 'scheduled job failed (exit %s): %s; the next run in %s s\n' "$?" "$*" "$every" >&2
  sleep "$every" & wait $!
done`;

/** The compose entrypoint and command of a scheduled service (compose interpolation is escaped by the renderer). */
export function scheduledArgv(j: Schedule): { entrypoint: string[]; command: string[] } {
  return {
    entrypoint: ['/bin/sh', '-c', LOOP, String(seconds(j.after ?? j.every)), String(seconds(j.every))],
    command: j.command,
  };
}

/** The plan's words for it. */
export const scheduleSays = (key: string, j: Schedule) =>
  `${key}: a scheduled job, run in its own container ${j.after ? `${j.after} after it starts, then ` : ''}every ${j.every} (an interval: a calendar schedule on bare metal runs at its period, not at its clock times): ${j.command.join(' ')}`;
