import { parseDocument, isMap, type Document } from 'yaml';
import { result, type CheckResult, type Evidence } from './checks.ts';
import type { ImageFacts } from './audit.ts';

/** The compose file's side of the audit: the service's settings (interpolated from .env), resource limits, restart policy. */

export function composeService(
  f: Pick<ImageFacts, 'compose'>,
): { doc: Document; svc?: Record<string, unknown>; error?: string } | undefined {
  if (!f.compose) return undefined;
  const doc = parseDocument(f.compose.text);
  if (doc.errors.length)
    return { doc, error: `${f.compose.file} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}` };
  const js = doc.toJS() as { services?: Record<string, Record<string, unknown>> } | null;
  const raw = js?.services?.[f.compose.service];
  const svc = raw ? (interpolateDeep(raw, f.compose.vars ?? {}) as Record<string, unknown>) : undefined;
  if (!svc)
    return {
      doc,
      error: `${f.compose.file} has no service ${f.compose.service} (services: ${Object.keys(js?.services ?? {}).join(', ') || 'none'})`,
    };
  return { doc, svc };
}

/**
 * Compose interpolation for the settings the checks read: ${VAR} and $VAR from the .env, with
 * ${VAR:-default}; a required ${VAR:?msg} that .env does not set stays as written (compose refuses
 * to start without it, so the setting is there whenever the service runs).
 */
export function interpolate(text: string, vars: Record<string, string>): string {
  // (applied to the parsed values, never to the file's text: `image: x:${TAG}` must stay a scalar)
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (m, name: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      const v = vars[name ?? bare ?? ''];
      if (v !== undefined && (v !== '' || !op?.startsWith(':'))) return v;
      if (op?.endsWith('-')) return arg ?? '';
      if (op?.endsWith('?')) return m;
      return '';
    },
  );
}

function interpolateDeep(v: unknown, vars: Record<string, string>): unknown {
  if (typeof v === 'string') return interpolate(v, vars);
  if (Array.isArray(v)) return v.map((x) => interpolateDeep(x, vars));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateDeep(x, vars)]));
  return v;
}

/** The line of a key in the YAML (the key, not its value: a service's map starts at its first child). */
function lineOf(doc: Document, path: string[], text: string): number | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((it) => (it.key as { value?: unknown })?.value === path[path.length - 1]);
  const r = (pair?.key as { range?: [number, number] } | undefined)?.range;
  return r ? text.slice(0, r[0]).split('\n').length : undefined;
}

export function checkCompose(f: Pick<ImageFacts, 'compose'>): CheckResult[] {
  const c = composeService(f);
  if (!c)
    return [
      result('resource-limits', 'na', 'no compose file given for this image'),
      result('restart-policy', 'na', 'no compose file given for this image'),
    ];
  const file = f.compose!.file;
  if (c.error)
    return [
      result(
        'resource-limits',
        'fail',
        c.error,
        [{ what: c.error, file }],
        'fix `compose.file`/`compose.service` in the audit config',
      ),
      result(
        'restart-policy',
        'fail',
        c.error,
        [{ what: c.error, file }],
        'fix `compose.file`/`compose.service` in the audit config',
      ),
    ];
  const svc = c.svc as {
    mem_limit?: unknown;
    cpus?: unknown;
    cpu_quota?: unknown;
    restart?: string;
    deploy?: { resources?: { limits?: { memory?: unknown; cpus?: unknown } }; restart_policy?: { condition?: string } };
  };
  const name = f.compose!.service;
  const at = (p: string[]) => {
    const l = lineOf(c.doc, p, f.compose!.text);
    return l ? `${file}:${l}` : file;
  };
  const mem = svc.deploy?.resources?.limits?.memory ?? svc.mem_limit;
  const cpu = svc.deploy?.resources?.limits?.cpus ?? svc.cpus ?? svc.cpu_quota;
  const limEv: Evidence[] = [];
  if (mem === undefined)
    limEv.push({
      what: `services.${name} has no memory limit (deploy.resources.limits.memory or mem_limit)`,
      file: at(['services', name]),
    });
  if (cpu === undefined)
    limEv.push({
      what: `services.${name} has no CPU limit (deploy.resources.limits.cpus or cpus)`,
      file: at(['services', name]),
    });
  const limits = limEv.length
    ? result(
        'resource-limits',
        'fail',
        `services.${name}: ${limEv.length === 2 ? 'no memory or CPU limit' : limEv[0].what.includes('memory') ? 'no memory limit' : 'no CPU limit'}: one runaway container can starve the host`,
        limEv,
        `in services.${name}: deploy: { resources: { limits: { memory: 512M, cpus: "1.0" } } } (or mem_limit: 512m and cpus: 1.0)`,
      )
    : result('resource-limits', 'pass', `memory ${String(mem)}, cpus ${String(cpu)}`);
  const restart =
    svc.restart ??
    (svc.deploy?.restart_policy?.condition
      ? `deploy.restart_policy ${svc.deploy.restart_policy.condition}`
      : undefined);
  const noRestart = restart === undefined || restart === 'no' || restart === 'deploy.restart_policy none';
  const rp = noRestart
    ? result(
        'restart-policy',
        'fail',
        `services.${name}: ${restart === undefined ? 'no restart policy (defaults to no)' : `restart is ${restart}`}: a crash or host reboot leaves it down`,
        [
          {
            what: `services.${name}${restart === undefined ? ' sets no restart' : ` restart: ${restart}`}`,
            file: at(['services', name, ...(svc.restart ? ['restart'] : [])]),
          },
        ],
        `in services.${name}: restart: unless-stopped (CIS 5.14 prefers on-failure:5 where crash loops must stop)`,
      )
    : result('restart-policy', 'pass', `restart: ${restart}`);
  return [limits, rp];
}
