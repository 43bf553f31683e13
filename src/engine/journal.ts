import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from './command.ts';
import type { Resource, UndoKind } from './step.ts';

export type JournalEntry =
  | {
      type: 'run';
      runId: string;
      runbook: string;
      operator: string;
      config: string;
      startedAt: string;
      mode: 'run' | 'resume' | 'rollback';
      /** The run whose result this one builds on (a cleanup after its migration): that run's rollback waits for this one's. */
      follows?: string;
      /** The command that rolls this run back, as its operator would type it. */
      rollback?: string;
    }
  /** takesWrites: from here on, what the run made may hold the only copy of data (never destroyed by a rollback). */
  | { type: 'step-start'; step: string; takesWrites?: boolean }
  /** A resumed step run again from its start without its undo (redoOnResume): each action it runs again replaces its earlier record. */
  | { type: 'step-redo'; step: string }
  /** Written before the command runs, so a kill -9 in the middle still leaves its undo on disk. */
  | {
      type: 'action';
      step: string;
      index: number;
      what: string;
      undo: Command[];
      creates: Resource[];
      undoKind?: UndoKind;
      keep?: Command[];
    }
  /** out: the command's stdout when short (an agent's JSON summary), for the report. */
  | { type: 'action-done'; step: string; index: number; ms: number; out?: string }
  | { type: 'step-done'; step: string; ms: number }
  | { type: 'step-skipped'; step: string }
  | { type: 'step-failed'; step: string; error: string }
  | { type: 'undo-done'; step: string; index: number }
  /** A destroys-data undo not run because the data may be the only copy: what it made is kept. */
  | { type: 'undo-kept'; step: string; index: number; kept: Resource[] }
  | { type: 'undo-failed'; step: string; index: number; error: string }
  | { type: 'step-rolled-back'; step: string }
  | { type: 'run-done' }
  | { type: 'run-failed'; step: string; error: string }
  | { type: 'run-rolled-back' };

export type Stamped = JournalEntry & { t: string };

/** Append-only JSON lines, fsync'd per entry: the run's memory across crashes and processes. */
export class Journal {
  private fd: number;
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }
  /** Each line once it is on disk here (the host's mirror of the journal). */
  onLine?: (line: string) => void;
  append(e: JournalEntry): void {
    const line = `${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`;
    writeSync(this.fd, line);
    fsyncSync(this.fd);
    this.onLine?.(line);
  }
  close(): void {
    closeSync(this.fd);
  }
  static read(path: string): Stamped[] {
    if (!existsSync(path)) return [];
    const out: Stamped[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // A torn last line from a kill -9 mid-write: everything before it is intact.
      }
    }
    return out;
  }
}

export interface ActionState {
  index: number;
  what: string;
  undo: Command[];
  creates: Resource[];
  undoKind: UndoKind;
  keep: Command[];
  done: boolean;
  undone: boolean;
  /** Its resources were kept instead of undone (they may hold the only copy of data). */
  kept: boolean;
}

export interface StepState {
  id: string;
  status: 'running' | 'done' | 'failed' | 'skipped' | 'rolled-back';
  actions: ActionState[];
  /** Run again from its start without its undo (redoOnResume), since its last step-start. */
  redo?: boolean;
}

export interface RunState {
  runId?: string;
  runbook?: string;
  steps: StepState[];
  finished: boolean;
  rolledBack: boolean;
  /** A step that opened what the run made to writes has begun: destroys-data undos must not run. */
  tookWrites: boolean;
  /** What rollbacks kept on purpose. */
  kept: Resource[];
}

/** Replays a journal into the state of each step and action. */
export function replay(entries: Stamped[]): RunState {
  const state: RunState = { steps: [], finished: false, rolledBack: false, tookWrites: false, kept: [] };
  const step = (id: string): StepState => {
    let s = state.steps.find((x) => x.id === id);
    if (!s) {
      s = { id, status: 'running', actions: [] };
      state.steps.push(s);
    }
    return s;
  };
  for (const e of entries) {
    switch (e.type) {
      case 'run':
        state.runId ??= e.runId;
        state.runbook ??= e.runbook;
        if (e.mode !== 'rollback') {
          state.finished = false;
          state.rolledBack = false;
        }
        break;
      case 'step-start': {
        const s = step(e.step);
        s.status = 'running';
        delete s.redo;
        if (e.takesWrites) state.tookWrites = true;
        break;
      }
      case 'step-redo':
        step(e.step).redo = true;
        break;
      case 'action': {
        const s = step(e.step);
        // an undone record of this action is history; a redo's new record stands for the earlier one too
        s.actions = s.actions.filter((a) => a.index !== e.index || (!a.undone && !s.redo));
        s.actions.push({
          index: e.index,
          what: e.what,
          undo: e.undo,
          creates: e.creates,
          undoKind: e.undoKind ?? 'restores',
          keep: e.keep ?? [],
          done: false,
          undone: false,
          kept: false,
        });
        break;
      }
      case 'action-done': {
        const a = [...step(e.step).actions].reverse().find((x) => x.index === e.index);
        if (a) a.done = true;
        break;
      }
      case 'step-done':
        step(e.step).status = 'done';
        break;
      case 'step-skipped':
        step(e.step).status = 'skipped';
        break;
      case 'step-failed':
        step(e.step).status = 'failed';
        break;
      case 'undo-done': {
        const a = [...step(e.step).actions].reverse().find((x) => x.index === e.index && !x.undone);
        if (a) a.undone = true;
        break;
      }
      case 'undo-kept': {
        const a = [...step(e.step).actions].reverse().find((x) => x.index === e.index && !x.undone);
        if (a) {
          a.undone = true;
          a.kept = true;
        }
        state.kept.push(...e.kept);
        break;
      }
      case 'step-rolled-back':
        step(e.step).status = 'rolled-back';
        break;
      case 'run-done':
        state.finished = true;
        break;
      case 'run-rolled-back':
        state.rolledBack = true;
        state.finished = false;
        break;
    }
  }
  return state;
}

/** Undo work still to do, newest first: every action begun (done or not) and not yet undone. */
export function pendingUndo(state: RunState, onlyStep?: string): { step: string; action: ActionState }[] {
  const out: { step: string; action: ActionState }[] = [];
  for (const s of [...state.steps].reverse()) {
    if (onlyStep && s.id !== onlyStep) continue;
    for (const a of [...s.actions].reverse()) if (!a.undone) out.push({ step: s.id, action: a });
  }
  return out;
}
