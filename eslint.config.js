// Lint rules that encode review catches; each message names the fix.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.airlock/**', 'test/run.mjs', 'scripts/*.mjs', 'test/support/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports (no default exports).' },
        { selector: 'ExportAllDeclaration', message: 'Export names explicitly (no export *).' },
        { selector: 'TSEnumDeclaration', message: 'Use a union of string literals instead of an enum.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'tools/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'jose', importNames: ['decodeJwt'], message: 'decodeJwt does not verify: use the identity verifier (jwtVerify).' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/connectors/**', 'src/audit/**', 'src/approval/pg-store.ts', 'src/console/pg-session-store.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['pg', '@google-cloud/*', 'google-auth-library'], message: 'Database and cloud clients live in src/connectors/ (or a store: src/audit/, src/approval/pg-store.ts, src/console/pg-session-store.ts): go through a connector.' },
          ],
          paths: [
            { name: 'jose', importNames: ['decodeJwt'], message: 'decodeJwt does not verify: use the identity verifier (jwtVerify).' },
          ],
        },
      ],
    },
  },
  {
    files: ['tools/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!zod$|\\.\\./src/tool\\.js$|\\.\\./src/errors\\.js$|\\.\\./src/connectors/([a-z]+-)?types\\.js$|\\.\\./src/policy/log-filter\\.js$|\\./[a-z_]+\\.js$).*',
              message: 'tools/ may import only zod, the tool interface (src/tool.js), errors, connector types and the Logging filter language (src/policy/log-filter.js).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts', 'src/cli.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only the entry points (src/main.ts, src/cli.ts) read process.env: pass settings in.' }],
    },
  },
  {
    files: ['test/vitest.config.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
