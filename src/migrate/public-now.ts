/**
 * Where the public is served now, read on the host when a rollback stopped at an undo that failed (#33): the
 * operator, alone with a half-undone run, needs to know in one line whether anyone is answering the app's
 * users, and by whom. Read, never inferred from the journal: nginx's container and its gate (open: the
 * containers serve; closed: everyone gets 503), each routed service's container, and whether anything
 * listens on each routed service's bare-metal port.
 */
import { sudo, type RemoteCommand } from '../engine/command.ts';
import { GATE_FILE } from './deploy.ts';
import { container, nginxContainer, routed } from './app.ts';
import type { Spec } from './spec.ts';

/** $1 nginx's container, $2 its gate file, then KEY=CONTAINER=PORT per routed service: one line on stdout. */
export const PUBLIC_NOW = `nginx=$1; gate=$2; shift 2
running() { [ "$(docker inspect -f '{{.State.Running}}' -- "$1" 2>/dev/null)" = true ]; }
up=; down=; bare=; none=
for r in "$@"; do
  k=\${r%%=*}; rest=\${r#*=}; c=\${rest%=*}; p=\${rest##*=}
  if running "$c"; then up="$up $k"; else down="$down $k"; fi
  if [ -n "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then bare="$bare $k:$p"; else none="$none $k:$p"; fi
done
if running "$nginx"; then
  if grep -q '^# cutover gate: OPEN' "$gate" 2>/dev/null; then
    if [ -z "$down" ]; then front="nginx ($nginx) sends the public to the containers (gate open)"
    else front="nginx ($nginx) has its gate open but the containers of$down are not running: those requests fail (502)"; fi
  else front="nginx ($nginx) answers the public 503 (gate closed)"; fi
else front="nginx ($nginx) is not running: the new address answers nothing"; fi
if [ -n "$bare" ]; then back="on bare metal something listens on$bare (the old address serves)"
else back="on bare metal nothing listens on$none (the old address serves nothing)"; fi
printf 'the public now: %s; %s\\n' "$front" "$back"`;

export function publicNow(s: Spec): RemoteCommand {
  const routes = [...routed(s)].map((k) => `${k}=${container(s, k)}=${s.services[k].port}`);
  return sudo(['sh', '-c', PUBLIC_NOW, 'sh', nginxContainer(s), `${s.deployDir}/gate/${GATE_FILE}`, ...routes], {
    says: 'read where the public is served now: nginx and its gate, the routed containers, the bare-metal ports',
    reads: true,
  });
}
