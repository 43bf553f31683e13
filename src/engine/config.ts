import { existsSync, readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../util/errors.ts';

/**
 * Load a YAML config and validate it with zod. Every error names the file, the field, what was
 * wrong and an example of right (from `examples`, keyed by dotted field path).
 */
export function loadConfig<T extends z.ZodType>(
  path: string,
  schema: T,
  examples: Record<string, string> = {},
  flag = '--config FILE (see runbooks/*.example.yaml)',
): z.infer<T> {
  if (!existsSync(path)) throw new UserError(`config ${path} does not exist: pass ${flag}`);
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new UserError(
      `config ${path}: not valid YAML at line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`,
    );
  }
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(top level)';
    const example = exampleFor(
      examples,
      issue.path.filter((p): p is string => typeof p === 'string'),
      field,
    );
    throw new UserError(
      `config ${path}: field \`${field}\`: ${issue.message}${example ? ` (example: ${example})` : ''}`,
    );
  }
  return parsed.data;
}

/** The example for a field: its own path, else the path without a map's key (services.web.port is services.port). */
function exampleFor(examples: Record<string, string>, path: string[], field: string): string | undefined {
  const tries = [field, path.join('.'), ...path.map((_, i) => path.filter((_, j) => j !== i).join('.'))];
  for (const t of tries) if (examples[t]) return examples[t];
  return undefined;
}
