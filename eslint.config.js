// Lint rules: the recommended sets, plus the few rules that catch the mistakes this codebase cares about.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      // Unused bindings are dead code; an underscore marks a parameter kept for a signature.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The structured logger or the CLI output layer writes; a stray console.log leaks into logs.
      'no-console': ['error', { allow: ['error', 'warn'] }],
      // `import type` keeps type-only imports out of the runtime graph.
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Domain boundaries: a domain reaches another only through its contract (`../<name>/<name>.js`),
    // and the access domain's shared rules (`delegation.js`, `policy.js`); never another domain's
    // store, service or internals. `app.ts` (and a test, like it) wires stores into services; adapters
    // import what they use.
    files: ['packages/server/src/domains/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: String.raw`^\.\./(?!access/(?:delegation|policy)\.js$)([\w-]+)/(?!\1(?:\.js)?$)[^/]+$`,
              message:
                "A domain imports another domain's contract only (../<name>/<name>.js); stores and services are wired in wiring/services.ts.",
            },
            {
              regex: String.raw`^(?:\.\./)+domains/`,
              message:
                "A domain imports another domain's contract as ../<name>/<name>.js, nothing else of it.",
            },
          ],
        },
      ],
    },
  },
  {
    // The console renders what the server sends as text only: no markup from a string, no code from one.
    files: ['packages/console/src/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
          message: 'The console renders server data as text only.',
        },
        {
          selector:
            'MemberExpression[property.name=/^(innerHTML|outerHTML|insertAdjacentHTML|write|writeln)$/]',
          message: 'The console renders server data as text only.',
        },
        {
          selector: 'CallExpression[callee.name=/^(eval|Function)$/]',
          message: 'No code from strings (the Content-Security-Policy refuses it too).',
        },
      ],
    },
  },
  {
    // Tests read JSON responses of many shapes; typing each one would add noise, not safety.
    files: ['**/test/**', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['scripts/**', '**/bin/**', '**/bench/**'],
    rules: { 'no-console': 'off' },
  },
);
