// ESLint for the labextension: typescript-eslint's recommended rules and the
// JupyterLab extension template's conventions; prettier owns the layout.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['lib/', 'coverage/', 'node_modules/', '.yarn/', '**/*.d.ts']
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  // Before the rules below: it turns off `curly`, which they turn back on.
  prettier,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  {
    // Configuration files run in node.
    files: ['*.js', '*.mjs'],
    languageOptions: { globals: globals.node }
  }
);
