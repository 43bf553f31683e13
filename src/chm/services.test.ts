import { describe, expect, it } from 'vitest';
import { describe as show } from '../engine/command.ts';
import { serviceCommands } from './services.ts';

describe('service manager adapters', () => {
  it('systemd: stop/disable and their inverses', () => {
    const c = serviceCommands({ manager: 'systemd', name: 'chatbot-backend.service' }, 'ubuntu');
    expect(show(c.stop)).toBe('remote (sudo): systemctl stop chatbot-backend.service');
    expect(show(c.disable)).toBe('remote (sudo): systemctl disable chatbot-backend.service');
    expect(show(c.enable)).toBe('remote (sudo): systemctl enable chatbot-backend.service');
    expect(show(c.start)).toBe('remote (sudo): systemctl start chatbot-backend.service');
    expect(c.status.okCodes).toEqual([0, 3]);
  });
  it('pm2 runs as the service owner; supervisor through supervisorctl', () => {
    const p = serviceCommands({ manager: 'pm2', name: 'chatbot-frontend', ecosystem: '/x/eco.cjs' }, 'ubuntu');
    expect(show(p.stop)).toBe('remote (as ubuntu): pm2 stop chatbot-frontend');
    expect(show(p.enable)).toMatch(/ sh chatbot-frontend \/x\/eco\.cjs$/);
    const s = serviceCommands({ manager: 'supervisor', name: 'chatbot-backend' }, 'ubuntu');
    expect(show(s.stop)).toBe('remote (sudo): supervisorctl stop chatbot-backend');
    expect(show(s.disable)).toMatch(/autostart=false/);
  });
});
