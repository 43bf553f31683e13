import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT, labSsh } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';

/** A real terminal: tmux runs the runbook, send-keys types, capture-pane reads the screen. */
const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
const screen = (s: string) => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', s);
async function waitFor(s: string, re: RegExp, ms = 60_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const text = screen(s);
    if (re.test(text)) return text;
    if (Date.now() - t0 > ms) throw new Error(`screen never showed ${re}:\n${text}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('--interactive, driven through its prompts in a terminal', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    expect(labReset().code).toBe(0);
    original = hostFingerprint();
  });

  it("runs two steps, shows the next one's commands, then rolls back and quits", async () => {
    const s = `cutover-it-${process.pid}`;
    const cmd = `cd ${ROOT} && env -u CI node_modules/.bin/tsx runbooks/demo.ts --interactive; echo EXIT=$?; sleep 30`;
    tmux('new-session', '-d', '-s', s, '-x', '220', '-y', '60', cmd);
    try {
      await waitFor(s, /next: write-file/);
      tmux('send-keys', '-t', s, 'Enter'); // run this step
      await waitFor(s, /next: volume/);
      expect(labSsh('cat /home/ubuntu/cutover-demo/hello.txt')).toMatch(/hello from run/);
      tmux('send-keys', '-t', s, 'Enter');
      await waitFor(s, /next: container/);
      expect(labSsh('docker volume ls -q')).toMatch(/^cutover_demo$/m);
      tmux('send-keys', '-t', s, 'Down', 'Down', 'Enter'); // show its commands
      await waitFor(s, /docker run -d --pull never/);
      tmux('send-keys', '-t', s, 'Down', 'Down', 'Down', 'Enter'); // roll back what this run did, and quit
      const text = await waitFor(s, /EXIT=\d+/);
      expect(text).toMatch(/undone \(volume\)/);
      expect(text).toMatch(/undone \(write-file\)/);
      expect(text).toMatch(/rolled back as you asked: \d+ actions undone/);
      expect(text).not.toMatch(/failed/);
      expect(text).toMatch(/EXIT=0/); // the operator's decision, not a failure
    } finally {
      tmux('kill-session', '-t', s);
    }
    expect(hostFingerprint()).toEqual(original);
  });
});
