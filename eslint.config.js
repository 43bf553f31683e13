// ESLint for the TypeScript: the recommended rules of ESLint and of typescript-eslint, on the syntax
// alone (not type-aware: `tsc --noEmit` is the type check, and type-aware rules would take as long again).
// Layout is Prettier's (.prettierrc.json): no rule here is about it. Run by scripts/check.sh.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  // .lab/ and backups/: what the lab and runs leave behind. scripts/lab/: the lab's stand-ins for the
  // customers' apps (plain JavaScript run in their containers): fixtures as a customer wrote them, not ours.
  { ignores: ['.lab/', 'backups/', 'scripts/lab/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `_` in front: a parameter kept for a shared signature (every image check takes (facts, layers));
      // a rest sibling: keys named only to leave them out of the rest (`const { kind: _k, ...rest } = cmd`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests and their helpers read untyped data back (a runbook's --json output, a parsed YAML config, a
    // journal line) and poke into it: typing each shape there would add nothing the assertions don't check.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
