import { z } from 'zod';

/**
 * Values that end up in nginx, compose, its .env or a docker argument, checked when a config or a spec
 * loads: a value that would read as syntax there (a hostname with `;` in server_name) is one line
 * naming the field, never a broken file on the host.
 */
export const hostname = z
  .string()
  .regex(
    /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    'a DNS hostname (letters, digits, - and dots; *. in front for a wildcard), as nginx server_name takes it',
  );
export const dockerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a docker name (letters, digits, _ . -)');
export const imageRef = z.string().regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'an image reference like python:3.11-slim');
export const ipv4 = z
  .string()
  .regex(
    /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/,
    'an IPv4 address to publish on, like 0.0.0.0 or 127.0.0.1',
  );
/** A dir under another: relative, no `..`, nothing a docker -v mount would split (`:` `,`). */
export const RELATIVE_DIR = /^(?!\.\.?(\/|$))(?!.*\/\.\.?(\/|$))[^/:,\n\0][^:,\n\0]*$/;
export const serviceName = z.string().regex(/^[A-Za-z0-9@._:-]+$/, 'a service name (letters, digits, @ . _ : -)');
export const port = z.number().int().min(1).max(65535);
/** A user name on the host. */
export const userName = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]*$/, 'a user name on the host (lowercase letters, digits, _ -)');
/** A variable name of the operator's environment. */
export const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');

/** A memory size as docker and compose take it: a whole number and k, m or g (512m, 1g). */
export const size = z.string().regex(/^[1-9][0-9]*[kmg]$/, 'a size like 512m or 1g (a whole number, then k, m or g)');
export const bytesOf = (s: string) => Number(s.slice(0, -1)) * 1024 ** ('kmg'.indexOf(s.slice(-1)) + 1);

/** A path on the host: absolute, and nothing compose's .env, a docker -v mount or nginx would read as syntax. */
export const hostPath = z
  .string()
  .regex(/^\/[^\s$"'\\;{}#:,]*$/, 'an absolute path on the host, without spaces, quotes, $, ;, {, }, #, : or ,');

/** Memory and CPU limits of one container (compose mem_limit / cpus; docker inspect: HostConfig.Memory, NanoCpus). */
export const limits = (memory: string, cpus: number) =>
  z
    .object({
      memory: size.refine((s) => bytesOf(s) >= 6 * 1024 ** 2, 'at least 6m (docker refuses less)').default(memory),
      /** CPUs the container may use (0.5: half of one); preflight refuses more than the host has. */
      cpus: z.number().min(0.01).max(1024).default(cpus),
    })
    .prefault({});

export const restartPolicy = z.enum(['unless-stopped', 'always', 'on-failure', 'no']);
