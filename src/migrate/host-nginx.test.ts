import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config.ts';
import { hostNginxChanges, parseNginx, sizeBytes, timeMs } from './host-nginx.ts';
import { specSchema, type Spec } from './spec.ts';

const SDLAB = () => loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/sdlab.yaml'), specSchema);

/** `nginx -T` as Debian's nginx prints it: each file after its `# configuration file` line, includes left in place. */
const dump = (site: string) => `nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_processes auto;
events { worker_connections 768; }
http {
	sendfile on;
	client_max_body_size 8m; # the host's default for every site
	include /etc/nginx/mime.types;
	include /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/sites-enabled/sdlab:
upstream app { server unix:/run/sdlab/uwsgi.sock; }
server {
	listen 80;
	server_name sdlab.lab.internal "www.sdlab.lab.internal";
	${site}
}
server {
	listen 80 default_server;
	server_name _;
	client_max_body_size 1g;
	location / { return 404; }
}
`;

describe("the host's own nginx, read before the cutover", () => {
  it('parses words, quotes, comments and blocks', () => {
    const d = parseNginx(`a b "c d;{}" 'e' ; # gone { ;\nblock x { inner 1; nested { deep; } }\n`);
    expect(d).toEqual([
      { name: 'a', args: ['b', 'c d;{}', 'e'] },
      {
        name: 'block',
        args: ['x'],
        block: [
          { name: 'inner', args: ['1'] },
          { name: 'nested', args: [], block: [{ name: 'deep', args: [] }] },
        ],
      },
    ]);
    expect(parseNginx('add_header X "a\\"b;";')).toEqual([{ name: 'add_header', args: ['X', 'a"b;'] }]);
    expect([sizeBytes('256m'), sizeBytes('256M'), sizeBytes('268435456'), sizeBytes('0')]).toEqual([
      268435456, 268435456, 268435456, 0,
    ]);
    expect([timeMs('60'), timeMs('60s'), timeMs('1m'), timeMs('1m30s'), timeMs('500ms')]).toEqual([
      60000, 60000, 60000, 90000, 500,
    ]);
  });

  it('says each setting the new nginx changes for a route (location, then server, then http, then nginx default), and where the host sent it', () => {
    const lines = hostNginxChanges(
      SDLAB(),
      dump(`location / { uwsgi_pass app; proxy_read_timeout 1h; proxy_buffering off; }
	location /static/ { alias /srv/sdlab/static/; }`),
    );
    expect(lines).toEqual([
      // http's 8m (the server sets none) against the spec's 256m: the spec asks more, and says so
      "the host's nginx for sdlab.lab.internal (location /): client_max_body_size 8m; the new nginx: 256m (routes.0.maxBodySize): set that field to 8m if the app relies on it",
      "the host's nginx for sdlab.lab.internal (location /): proxy_read_timeout 1h; the new nginx: 300s (routes.0.readTimeout): set that field to 1h if the app relies on it",
      "the host's nginx for sdlab.lab.internal (location /): uwsgi_pass app; the new nginx sends sdlab.lab.internal/ to the container web:8100 over HTTP, not uwsgi: the app's container must answer HTTP there",
      "the host's nginx for sdlab.lab.internal serves /static/ itself from /srv/sdlab/static/ (alias); the new nginx sends it to web: serve those files from the app, or as a data set through nginx.internal",
    ]);
  });

  it('settings equal in other words are no line; a host name the host does not serve is no line; no nginx on the host, nothing', () => {
    const same = dump(
      'client_max_body_size 268435456; location / { proxy_pass http://127.0.0.1:8100; proxy_read_timeout 5m; proxy_buffering off; }',
    );
    expect(hostNginxChanges(SDLAB(), same)).toEqual([
      "the host's nginx for sdlab.lab.internal (location /): proxy_pass http://127.0.0.1:8100; the new nginx sends sdlab.lab.internal/ to the container web:8100",
    ]);
    const other: Spec = { ...SDLAB(), routes: [{ ...SDLAB().routes[0], host: 'elsewhere.example.com' }] };
    expect(hostNginxChanges(other, same)).toEqual([]);
    expect(hostNginxChanges(SDLAB(), '')).toEqual([]);
  });

  it('a wildcard server name serves the route too', () => {
    const wild = dump('location / { proxy_pass http://x; }').replace(
      'server_name sdlab.lab.internal "www.sdlab.lab.internal"',
      'server_name *.lab.internal',
    );
    expect(hostNginxChanges(SDLAB(), wild)[0]).toMatch(
      /^the host's nginx for sdlab\.lab\.internal \(location \/\): client_max_body_size 8m/,
    );
  });
});
