import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { loadConfig } from '../engine/config.ts';
import { Journal, replay } from '../engine/journal.ts';
import { hostname } from 'node:os';
import {
  HOST_LOCK, TakenOver, heldElsewhereMessage, lockHeldMessage, lockProbe, parseLockOwner, releaseLockCmd, takeLockCmd, type LockOwner,
} from '../engine/lock.ts';
import { Session } from '../exec/fence.ts';
import { JournalMirror, readHostJournal } from '../exec/journal-mirror.ts';
import { buildsOnMessage, listHostRuns, runsBuildingOn } from './host-runs.ts';
import { executePlan, undoFromJournal, type RunHooks } from '../engine/runner.ts';
import type { Probe, Runbook } from '../engine/runbook.ts';
import type { PlannedStep, Resource } from '../engine/step.ts';
import { DryRunExecutor } from '../exec/executor.ts';
import { SshExecutor, remoteInvocation } from '../exec/ssh-executor.ts';
import { SshConnection } from '../ssh/connection.ts';
import { UserError, errorMessage } from '../util/errors.ts';
import { operatorName } from '../util/operator.ts';
import { askBeforeStep } from './interactive.ts';
import { planSummary } from './plan-view.ts';
import { RunLog } from './run-log.ts';
import { factsFingerprint, newRunId, planToJson, selectSteps, type SavedPlan } from './plan-file.ts';
import { adoptHostJournal, appendToReport, claimRun, keptNames, leftLines, rollbackStoppedMessage } from './run-dir.ts';
import { parseOptions } from './options.ts';
import { JsonReporter, LineReporter, ListrReporter, type Reporter } from './reporters.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '../..');
export { newRunId, planToJson, selectSteps, factsFingerprint } from './plan-file.ts';

/** Entry point of every runbook: one error boundary, one line on failure, non-zero exit. */
export async function runCli<S extends z.ZodType, F>(runbook: Runbook<S, F>, argv = process.argv.slice(2)): Promise<never> {
  let verbose = argv.includes('--verbose') || argv.includes('-v');
  let code: number;
  // What a run keeps here (archives, database dumps, journals, plans, reports) is the operator's alone: 0600 in 0700 dirs.
  process.umask(0o077);
  try {
    code = await runInner(runbook, argv, (v) => { verbose = v; });
  } catch (e) {
    // An operator error may carry a second line (where the details are); anything else: its first line only.
    const msg = e instanceof UserError ? errorMessage(e) : errorMessage(e).split('\n')[0];
    process.stderr.write(`${runbook.name}: error: ${msg}\n`);
    if (verbose && e instanceof Error && !(e instanceof UserError)) process.stderr.write(`${e.stack}\n`);
    code = e instanceof UserError ? e.exitCode : 1;
  }
  // stdout and stderr on a pipe are written asynchronously: exiting now would cut the tail of the
  // output (seen: a --dry-run --json cut mid-line). An empty write calls back once all before it are out.
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((r) => s.write('', () => r()))));
  process.exit(code);
}

async function runInner<S extends z.ZodType, F>(runbook: Runbook<S, F>, argv: string[], setVerbose: (v: boolean) => void): Promise<number> {
  const o = parseOptions(runbook.name, argv);
  setVerbose(o.verbose);
  // A terminal with no width (a pty nobody sized, e.g. under `script`) cannot host a spinner or listr:
  // their redraws would loop. Plain lines there, as in CI.
  const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY) && !process.env.CI && (process.stdout.columns ?? 0) > 0 && (process.stderr.columns ?? 0) > 0;
  if (o.interactive && !process.stdin.isTTY)
    throw new UserError('--interactive needs a terminal (stdin is not a TTY): run without it, and pass --yes to confirm destructive steps');

  const configPath = resolve(o.config ?? resolve(PROJECT_ROOT, runbook.defaultConfig));
  const config = loadConfig(configPath, runbook.schema, runbook.examples);
  const cmdName = runbook.command ?? `npx tsx runbooks/${runbook.name}.ts`;
  const backupsRoot = resolve(o.backupsDir ?? resolve(PROJECT_ROOT, 'backups'));

  let saved: SavedPlan | undefined;
  if (o.plan) {
    if (!existsSync(o.plan)) throw new UserError(`--plan ${o.plan}: no such file (make one with --dry-run --out FILE)`);
    saved = JSON.parse(readFileSync(o.plan, 'utf8')) as SavedPlan;
    if (saved.runbook !== runbook.name) throw new UserError(`--plan ${o.plan} was made by runbook ${saved.runbook}, not ${runbook.name}`);
  }
  const existingRun = o.resume ?? o.rollback;
  const runId = existingRun ?? saved?.runId ?? newRunId();
  const runDir = resolve(backupsRoot, runId);
  const journalPath = resolve(runDir, 'journal.jsonl');
  // One process per run id. A fresh run id cannot collide: its dir is made only once the run starts,
  // so a refused or nothing-to-do run leaves no backups/<run>/ behind.
  if (!o.dryRun && (existingRun || saved)) claimRun(runDir, runId);

  const reporterFor = async (plan: PlannedStep<unknown, unknown>[]): Promise<Reporter> =>
    o.json ? new JsonReporter() : o.dryRun || o.interactive || !tty ? new LineReporter(o.verbose) : ListrReporter.create(plan, tty);

  const conn = await SshConnection.connect({ ...runbook.ssh(config), acceptNewHostKey: o.acceptNewHostKey });
  const real = new SshExecutor(conn);
  // Only a run that changes the host runs its commands in a session (a dry run reads, with plain probes).
  if (!o.dryRun) real.session = new Session(runId);
  const probe: Probe = async (cmd) => {
    const { command, stdin } = remoteInvocation(cmd);
    return conn.exec(command, stdin !== undefined ? { stdin } : {});
  };
  const settle = runbook.settle?.(config, runId) ?? [];
  /** After a rollback that stopped: where the public is served now (read on the host), and that the lock stays. */
  const stoppedNow = async (u: { unreachable?: boolean }) => {
    const lock = `the host lock stays with run ${runId} until its rollback completes, so no other run starts a writer meanwhile`;
    if (u.unreachable || !runbook.publicNow) return `; ${lock}`;
    const line = await probe(runbook.publicNow(config)).then((r) => r.stdout.trim().split('\n').pop(), () => undefined);
    return `; ${line ? `${line}; ` : ''}${lock}`;
  };
  /** What a rollback of this run leaves on purpose, in lines for the operator. */
  const leftAfter = (kept: Resource[]) =>
    leftLines(kept, [...(runbook.leftAfterRollback?.(config, runId) ?? []), `kept: this run's journal and local backups in ${runDir}`]);
  /** A line on stdout, as JSON with --json. */
  const say = (msg: string) => process.stdout.write(`${o.json ? JSON.stringify({ type: 'info', message: msg }) : msg}\n`);
  const nextCmd = (what: '--resume' | '--rollback') => `${cmdName} ${what} ${runId}${o.config ? ` ${runbook.configFlag ?? '--config'} ${o.config}` : ''}${o.backupsDir ? ` --backups-dir ${o.backupsDir}` : ''}`;
  // The last line of defence: whatever escapes (a bug, a library's stray exception) still ends in
  // one line that says where the run stands and what to run next, never a stack trace.
  const onFatal = (e: unknown) => {
    process.stderr.write(`${runbook.name}: error: ${errorMessage(e).split('\n')[0]}; the journal is intact: ${nextCmd('--resume')} to continue, or ${nextCmd('--rollback')} to undo\n`);
    if (verboseStack(o.verbose) && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) {
      process.stderr.write('\nsecond Ctrl-C: stopping now; the journal is intact (use --resume or --rollback)\n');
      process.exit(130);
    }
    stopRequested = true;
    process.stderr.write(`\nCtrl-C: finishing the current action, then ${o.rollbackOnFailure ? 'rolling back' : 'stopping (resumable)'}. Ctrl-C again to stop now.\n`);
  };
  process.on('SIGINT', onSigint);

  /** This checkout: the machine and its backups dir (two checkouts on one machine are two owners). */
  const machine = `${hostname()}:${backupsRoot}`;
  /** The host lock, the runner's: one for every runbook on this host; this run's own next commands in it. */
  const lockOwner = (): LockOwner => ({
    runId, runbook: runbook.name, operator: operatorName(), machine, resume: nextCmd('--resume'), rollback: nextCmd('--rollback'),
  });
  /** The run's lock names another checkout: this one may go on only by taking it over (--take-over). */
  const heldElsewhere = (owner: LockOwner | undefined) => Boolean(owner && owner.runId === runId && owner.machine && owner.machine !== machine);
  const takeHostLock = async () => {
    const r = await probe(takeLockCmd(lockOwner()));
    if (r.code === 75) throw new UserError(lockHeldMessage(parseLockOwner(r.stderr) ?? { runId: 'unknown', operator: 'unknown' }, cmdName));
    if (r.code !== 0) throw new UserError(`cannot take the host lock ${HOST_LOCK}: ${r.stderr.trim().split('\n').pop()}`);
  };
  const releaseHostLock = async () => {
    await probe(releaseLockCmd(HOST_LOCK, runId));
  };
  let mirror: JournalMirror | undefined;
  /** The run's journal here, mirrored on the host as it is written (another machine can resume or roll back from it). */
  const openJournal = async () => {
    const journal = new Journal(journalPath);
    mirror = new JournalMirror(conn, runId);
    await mirror.sync(readFileSync(journalPath, 'utf8'));
    journal.onLine = (line) => mirror?.append(line);
    real.afterReconnect = async () => mirror?.sync(readFileSync(journalPath, 'utf8'));
    return journal;
  };

  try {
    if (o.runs) {
      for (const l of await listHostRuns(probe)) say(l);
      return 0;
    }
    // Someone else's run holds the host? Refuse before reading or changing anything more.
    const owner = parseLockOwner((await probe(lockProbe())).stdout);
    if (owner && owner.runId !== runId) throw new UserError(lockHeldMessage(owner, cmdName));
    // This run, held by another checkout: refused unless taken over, and then taken before anything else
    // (a fence of ours must never race one of the old owner's, which would stop ours at its next reconnect).
    if (!o.dryRun && heldElsewhere(owner)) {
      if (!o.takeOver) throw new UserError(heldElsewhereMessage(owner!));
      await takeHostLock();
      say(`took over run ${runId} from ${owner!.machine}: it stops at its next contact with the host`);
    }
    if (existingRun) await adoptHostJournal(journalPath, await readHostJournal(conn, runId), existingRun);
    // After a reconnect, before its fence: the run may have been taken over meanwhile; then nothing more of ours.
    if (!o.dryRun) real.beforeFence = async () => {
      const now = parseLockOwner((await conn.exec(remoteInvocation(lockProbe()).command)).stdout);
      if (heldElsewhere(now)) {
        mirror = undefined; // not one more line into the new owner's journal on the host
        throw new TakenOver(`run ${runId} was taken over by ${now!.machine} (operator ${now!.operator}, since ${now!.since}) while this checkout was cut off: this process stops here and did nothing more; follow the run there`);
      }
    };

    // A lost session of this run may have left work running on the host: stop it before touching anything.
    if (o.rollback || o.resume) {
      const fenced = await real.fence();
      if (fenced.length) say(`settled what an earlier session of run ${runId} left running on the host: ${fenced.join('; ')}`);
    }
    if ((o.rollback || o.resume) && settle.length) {
      for (const cmd of settle) {
        const last = (await real.run(cmd)).stdout.trim().split('\n').pop() ?? '';
        // Say so only when the lost session had left something behind.
        if (/"(waited|stopped)": \[[^\]]/.test(last)) {
          const msg = `settled what an earlier session of run ${runId} left running on the host: ${last}`;
          say(msg);
        }
      }
    }

    if (o.rollback) {
      // A later run built on this one's result (a cleanup moved what bare metal needs): it is undone first.
      const after = await runsBuildingOn(probe, runId);
      if (after.length) throw new UserError(buildsOnMessage(runId, after));
      await takeHostLock();
      const journal = await openJournal();
      journal.append({ type: 'run', runId, runbook: runbook.name, operator: operatorName(), config: configPath, startedAt: new Date().toISOString(), mode: 'rollback' });
      const reporter = o.json ? new JsonReporter() : new LineReporter(o.verbose);
      const log = new RunLog(resolve(runDir, 'run.log'));
      reporter.line(`rolling back run ${runId} from ${journalPath}`);
      log.line(`rolling back run ${runId} (operator ${operatorName()})`);
      const u = await undoFromJournal(journal, real, { event: (e) => { log.event(e); reporter.event(e); } }, undefined, settle);
      journal.close();
      if (u.undoFailures.length) throw new UserError(`${rollbackStoppedMessage(u, nextCmd('--rollback'))}${await stoppedNow(u)}; details: ${log.path}`, 1);
      await releaseHostLock();
      reporter.line(u.undone.length ? `rolled back run ${runId}: ${u.undone.length} actions undone` : `run ${runId}: nothing left to undo`);
      const left = leftAfter(u.kept);
      for (const l of left) reporter.line(l);
      appendToReport(runDir, `## Rollback (${new Date().toISOString()})\n${u.undone.length} actions undone.\n${left.map((l) => `- ${l}`).join('\n')}\n`);
      return 0;
    }

    const resumeState = o.resume ? replay(Journal.read(journalPath)) : undefined;
    if (resumeState?.finished) {
      say(`run ${runId} already finished: nothing to resume`);
      return 0;
    }
    const gathered = await withSpinner(`reading ${runbook.ssh(config).host} (preflight: facts and checks; changes nothing)`, tty && !o.json, say,
      () => runbook.gather(probe, config, { runId, resuming: Boolean(o.resume), backupsDir: backupsRoot }), (g) => g.problems.length === 0);
    if (gathered.problems.length) {
      if (gathered.problems.length > 1) {
        const lines = gathered.problems.map((p) => `  - ${p.message}`).join('\n');
        process.stderr.write(`${runbook.name}: ${gathered.problems.length} preflight checks failed, nothing was changed:\n${lines}\n`);
      }
      throw new UserError(`preflight: ${gathered.problems[0].message}`);
    }
    if (gathered.alreadyDone && !o.resume) {
      say(gathered.alreadyDone);
      say('nothing to do: no changes made');
      return 0;
    }
    const fingerprint = factsFingerprint(runbook.fingerprint(gathered.facts));
    const ctx = { config, facts: gathered.facts, runId, runDir };
    const fullPlan = runbook.steps(config).map((step) => ({ step, actions: step.plan(ctx) }));
    const plan = selectSteps(fullPlan, o);

    if (saved) {
      if (saved.fingerprint !== fingerprint)
        throw new UserError(`the host changed since plan ${o.plan} was made (facts fingerprint ${saved.fingerprint.slice(0, 12)} ≠ ${fingerprint.slice(0, 12)}): make a new plan with --dry-run --out`);
      const now = planToJson(runbook.name, runId, configPath, fingerprint, plan);
      if (JSON.stringify(now.steps) !== JSON.stringify(saved.steps))
        throw new UserError(`plan ${o.plan} no longer matches what this version of the runbook would do: make a new plan with --dry-run --out`);
    }

    if (o.dryRun) {
      const reporter = await reporterFor(plan);
      reporter.line(`dry run of ${runbook.name} (run id ${runId}, facts fingerprint ${fingerprint.slice(0, 12)}): nothing will be changed`);
      const dry = new DryRunExecutor();
      await executePlan({ plan, exec: dry, hooks: { event: (e) => reporter.event(e) } });
      const lockLine = `The host lock ${HOST_LOCK} is taken before the first change and released once the run is complete or rolled back: any other run on this host, of any runbook, waits.`;
      for (const l of planSummary(plan, { lines: [lockLine, ...(runbook.planNotes?.(config, gathered.facts) ?? [])] })) reporter.line(l);
      if (o.out) {
        writeFileSync(o.out, `${JSON.stringify(planToJson(runbook.name, runId, configPath, fingerprint, plan), null, 2)}\n`);
        reporter.line(`plan saved to ${o.out}; execute it with --plan ${o.out}`);
      }
      await reporter.done();
      return 0;
    }

    const destructive = plan.filter((p) => p.step.destructive).map((p) => p.step.id);
    if (destructive.length && !o.yes && !o.interactive)
      throw new UserError(`steps ${destructive.join(', ')} are destructive: pass --yes to confirm them, or use --interactive`);

    await takeHostLock();
    claimRun(runDir, runId);
    const journal = await openJournal();
    journal.append({ type: 'run', runId, runbook: runbook.name, operator: operatorName(), config: configPath, startedAt: new Date().toISOString(), mode: o.resume ? 'resume' : 'run', ...(o.resume ? {} : { follows: runbook.follows?.(gathered.facts), rollback: nextCmd('--rollback') }) });
    const reporter = await reporterFor(plan);
    const log = new RunLog(resolve(runDir, 'run.log'));
    log.line(`run ${runId} of ${runbook.name} (${o.resume ? 'resume' : 'run'}; operator ${operatorName()}; config ${configPath})`);
    const hooks: RunHooks = {
      event: (e) => { log.event(e); reporter.event(e); },
      stopRequested: () => stopRequested,
      beforeStep: o.interactive ? (p) => askBeforeStep(p, { yes: o.yes, print: (s) => reporter.line(s) }) : undefined,
    };
    say(`run ${runId} (journal ${journalPath})`);
    const complete = plan.at(-1)?.step.id === fullPlan.at(-1)?.step.id;
    const outcome = await executePlan({ plan, exec: real, journal, resume: resumeState, failAt: o.failAt, noRollback: !o.rollbackOnFailure, complete, hooks, settle });
    await reporter.done();
    if (runbook.report) {
      const timings: Record<string, number> = {};
      for (const e of Journal.read(journalPath)) if (e.type === 'step-done') timings[e.step] = e.ms;
      const md = await runbook.report({ config, facts: gathered.facts, runId, runDir, timings });
      writeFileSync(resolve(runDir, 'report.md'), md);
    }
    if (runbook.summary) {
      const s = runbook.summary({ config, facts: gathered.facts, runId, runDir });
      process.stdout.write(o.json ? `${JSON.stringify({ type: 'summary', data: s.data ?? s.lines })}\n` : `${s.lines.join('\n')}\n`);
    }
    journal.close();
    // The host is free again once the run is complete or wholly undone; else it stays this run's.
    if ((outcome.ok && complete) || outcome.rolledBack) await releaseHostLock();
    if (outcome.ok && !complete) {
      say(`run ${runId} stopped after ${plan.at(-1)?.step.id} as asked: continue with ${nextCmd('--resume')}, or undo with ${nextCmd('--rollback')}`);
      return 0;
    }
    if (outcome.ok) {
      say(`run ${runId} finished${runbook.report ? `; report: ${resolve(runDir, 'report.md')}` : ''}`);
      return 0;
    }
    if (outcome.quit && !outcome.undoFailures.length) {
      const msg = outcome.quit === 'rollback'
        ? `rolled back as you asked: ${outcome.undone.length} actions undone${outcome.kept.length ? `; kept on purpose: ${keptNames(outcome.kept)}` : ''}`
        : `stopped as you asked before ${outcome.failedStep}: continue with ${nextCmd('--resume')}, or undo with ${nextCmd('--rollback')}`;
      say(msg);
      if (outcome.quit === 'rollback') for (const l of leftAfter(outcome.kept)) say(l);
      return 0;
    }
    if (outcome.rolledBack) for (const l of leftAfter(outcome.kept)) say(l);
    if (outcome.takenOver) {
      log.line(`stopped: ${outcome.error}`);
      throw new UserError(outcome.error ?? `run ${runId} was taken over by another checkout`, 1);
    }
    const what = outcome.undoFailures.length
      ? `${rollbackStoppedMessage(outcome, nextCmd('--rollback'))}${await stoppedNow(outcome)}`
      : outcome.unreachable
        ? `the host cannot be reached again; the host lock stays with run ${runId}. When it is reachable: ${nextCmd('--resume')} to continue, or ${nextCmd('--rollback')} to undo`
        : outcome.rolledBack
          ? `rolled back ${outcome.undone.length} actions${outcome.kept.length ? `; kept on purpose: ${keptNames(outcome.kept)}` : '; the host is as it was before the run'}`
          : `state left as is: ${nextCmd('--resume')} to continue, or ${nextCmd('--rollback')} to undo`;
    log.line(`stopped: step ${outcome.failedStep} failed: ${outcome.error}; ${what}`);
    throw new UserError(`step ${outcome.failedStep} failed: ${outcome.error}; ${what}; details: ${log.path}`, 1);
  } finally {
    await mirror?.close();
    process.off('SIGINT', onSigint);
    process.off('uncaughtException', onFatal);
    process.off('unhandledRejection', onFatal);
    real.close();
  }
}

/**
 * ora on stderr while something slow reads the host (stdout stays the plan's, or JSON's). On a
 * terminal it spins; elsewhere (CI, --json) one line on stdout once it is done, and on a failure only the error's line.
 */
async function withSpinner<T>(text: string, tty: boolean, print: (s: string) => void, work: () => Promise<T>, ok: (r: T) => boolean = () => true): Promise<T> {
  const t0 = Date.now();
  const doneText = () => `${text.replace(/ \(.*\)$/, '')}: done in ${((Date.now() - t0) / 1000).toFixed(1)}s`;
  if (!tty) {
    const r = await work();
    if (ok(r)) print(`✔ ${doneText()}`);
    return r;
  }
  const { default: ora } = await import('ora');
  const spinner = ora({ text, stream: process.stderr, discardStdin: false }).start();
  try {
    const r = await work();
    if (ok(r)) spinner.succeed(doneText());
    else spinner.stop();
    return r;
  } catch (e) {
    spinner.stop();
    throw e;
  }
}

const verboseStack = (v: boolean) => v || process.env.CUTOVER_DEBUG === '1';
