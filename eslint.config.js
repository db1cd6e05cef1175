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
    // Tests read JSON responses of many shapes; typing each one would add noise, not safety.
    files: ['**/test/**', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['scripts/**', '**/bin/**', '**/bench/**'],
    rules: { 'no-console': 'off' },
  },
);
