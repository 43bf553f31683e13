import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config.ts';
import { cronProbe, cronProblems } from './cron.ts';
import { specSchema } from './spec.ts';

const SDLAB = () => loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/sdlab.yaml'), specSchema);
const row = (file: string, user: string, line: string) => `${file}\t${user}\t${line}`;

describe("cron jobs that are the app's", () => {
  it("names an entry of the data's owner, or one that names a data set's dir or a service's code dir, with the field and the fix", () => {
    const listing = [
      row('/var/spool/cron/crontabs/sdlab', 'sdlab', '*/5 * * * * /usr/bin/env python3 -c "print(1)"'),
      row('/var/spool/cron/crontabs/root', 'root', '0 3 * * * find /srv/sdlab/uploads/ -name "*.tmp" -delete'),
      row('/etc/cron.d/prune', 'root', '15 * * * * root /opt/sdlab/prune.py --all'),
      row('/etc/cron.d/e2scrub_all', 'root', '30 3 * * 0 root test -e /run/systemd/system || /usr/lib/x.sh'),
      row('/etc/crontab', 'root', '17 * * * * root cd / && run-parts --report /etc/cron.hourly'),
      row('/var/spool/cron/crontabs/root', 'root', '0 4 * * * tar czf /backup/u.tgz /srv/sdlab/uploads-old'),
      row('/etc/cron.d/x', 'www', '@hourly www /srv/sdlab/data'),
      '',
    ].join('\n');
    const found = cronProblems(SDLAB(), listing);
    expect(found.map(([f]) => f)).toEqual([
      'owner',
      'data.uploads.path',
      'services.web.build.context',
      'data.appdb.path',
    ]);
    expect(found[0][1]).toMatch(
      /^a cron job of sdlab in \/var\/spool\/cron\/crontabs\/sdlab \(`\*\/5 .*`\) is the app's \(it runs as sdlab, the data's owner\): .*Disable it before migrating \(crontab -u sdlab -e\)/,
    );
    expect(found[2][1]).toMatch(/it names \/opt\/sdlab\).*\(edit \/etc\/cron\.d\/prune\)/);
  });

  it('the probe lists user and system crontabs with their user, without comments or variables (its script, run on this machine)', () => {
    const c = cronProbe();
    expect(c.kind === 'remote' && c.argv.slice(-3, -1)).toEqual(['sh', '-c']);
    const script = c.kind === 'remote' ? c.argv.at(-1)! : '';
    const root = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    execFileSync('sh', [
      '-c',
      `mkdir -p ${root}/spool/crontabs ${root}/etc/cron.d
printf '# m h dom\\nMAILTO=ops\\n*/5 * * * * /opt/app/tick\\n' > ${root}/spool/crontabs/app
printf 'SHELL=/bin/sh\\n0 * * * * root /opt/app/prune *\\n@reboot app /opt/app/boot\\n' > ${root}/etc/cron.d/app`,
    ]);
    const local = script.replaceAll('/var/spool/cron', `${root}/spool`).replaceAll('/etc/', `${root}/etc/`);
    const out = execFileSync('sh', ['-c', local], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual([
      `${root}/spool/crontabs/app\tapp\t*/5 * * * * /opt/app/tick`,
      `${root}/etc/cron.d/app\troot\t0 * * * * root /opt/app/prune *`,
      `${root}/etc/cron.d/app\tapp\t@reboot app /opt/app/boot`,
    ]);
  });
});
