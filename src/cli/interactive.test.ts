import { describe, expect, it } from 'vitest';
import { remote } from '../engine/command.ts';
import type { PlannedStep } from '../engine/step.ts';
import { askBeforeStep, type Ask } from './interactive.ts';

/** Drives the prompts with scripted answers, as an operator at the keyboard would. */
function scripted(selects: string[], inputs: string[] = []): Ask & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    select: (async (q: { message: string }) => {
      asked.push(q.message);
      return selects.shift();
    }) as never,
    input: (async (q: { message: string }) => {
      asked.push(q.message);
      return inputs.shift() ?? '';
    }) as never,
  };
}
const step = (destructive: boolean): PlannedStep<unknown, unknown> => ({
  step: { id: 'cutover.stop-writer', title: 'stop the bare-metal writer', destructive, plan: () => [] },
  actions: [
    {
      cmd: remote(['supervisorctl', 'stop', 'chatbot-backend']),
      undo: [remote(['supervisorctl', 'start', 'chatbot-backend'])],
    },
  ],
});

describe('--interactive prompts', () => {
  it('shows the commands, then runs', async () => {
    const printed: string[] = [];
    const ask = scripted(['show', 'run']);
    expect(await askBeforeStep(step(false), { yes: false, print: (s) => printed.push(s) }, ask)).toBe('run');
    expect(printed.join('\n')).toMatch(
      /\+ remote: supervisorctl stop chatbot-backend\n\s+\$ remote: supervisorctl stop chatbot-backend\n\s+↩ remote: supervisorctl start chatbot-backend\n\s+\$ remote: supervisorctl start/,
    );
  });
  it('a destructive step needs its id typed back; a wrong answer asks for the id again, not the whole menu', async () => {
    const ask = scripted(['run'], ['yes', 'cutover.stop-writer']);
    expect(await askBeforeStep(step(true), { yes: false, print: () => {} }, ask)).toBe('run');
    expect(ask.asked.filter((m) => m.startsWith('type')).length).toBe(2);
    expect(ask.asked.filter((m) => m.startsWith('next')).length).toBe(1);
  });
  it('an empty answer goes back to the menu', async () => {
    const ask = scripted(['run', 'skip'], ['']);
    expect(await askBeforeStep(step(true), { yes: false, print: () => {} }, ask)).toBe('skip');
  });
  it.each(['skip', 'rollback', 'quit'])('passes %s through', async (c) => {
    expect(await askBeforeStep(step(true), { yes: false, print: () => {} }, scripted([c]))).toBe(c);
  });
});
