import { labSsh } from './lab.ts';

/**
 * Everything an operator would call "the host's state": containers (id, image, state), volumes,
 * networks, listening ports, bare-metal services, files under /home/ubuntu (with content hashes)
 * and the chatbot's data digest. cutover's own records (/var/lib/cutover: kept copies, host-side
 * backups) are left out on purpose: a rollback never deletes backups.
 */
export function hostFingerprint(): Record<string, string> {
  const script = String.raw`
echo "## containers"; docker ps -a --format '{{.Names}} {{.ID}} {{.Image}} {{.State}} {{.CreatedAt}}' | sort
echo "## volumes"; docker volume ls -q | sort
echo "## networks"; docker network ls --format '{{.Name}}' | sort
echo "## ports"; ss -ltnH | awk '{print $4}' | sort -u
echo "## supervisor"; sudo supervisorctl status | awk '{print $1, $2}'
echo "## supervisor-conf"; sudo sh -c 'cd /etc/supervisor/conf.d && ls -A && cat * 2>/dev/null' | sha256sum
echo "## pm2"; pm2 jlist 2>/dev/null | python3 -c 'import json,sys; [print(p["name"], p["pm2_env"]["status"]) for p in json.load(sys.stdin)]'
echo "## pm2-dump"; python3 -c 'import json; [print(p["name"]) for p in json.load(open("/home/ubuntu/.pm2/dump.pm2"))]' 2>/dev/null
echo "## files"; cd /home/ubuntu && find . \( -name .pm2 -o -name node_modules -o -name __pycache__ -o -name .npm -o -name .cache \) -prune -o -type f ! -name 'chroma.sqlite3*' -print0 | sort -z | xargs -0 -r sha256sum | sha256sum
echo "## dirs"; cd /home/ubuntu && find . \( -name .pm2 -o -name node_modules -o -name __pycache__ -o -name .npm -o -name .cache \) -prune -o -type d -print | sort | sha256sum
echo "## data"; curl -fsS http://127.0.0.1:8000/api/stats 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["digest"], d["collections"])' 2>/dev/null || echo "backend down"
echo "## lock"; sudo -n ls /var/lib/cutover/lock 2>/dev/null || echo none
`;
  const out = labSsh(script);
  const sections: Record<string, string> = {};
  let cur = '';
  for (const line of out.split('\n')) {
    const m = /^## (.+)$/.exec(line);
    if (m) {
      cur = m[1];
      sections[cur] = '';
    } else if (cur && line) sections[cur] += `${line}\n`;
  }
  return sections;
}
