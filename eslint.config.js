// Lint is where the dependency rules of DESIGN.md are enforced, not memory.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [{ group: ['node:*'], message: 'raft/core is pure: inject I/O instead.' }];

export default defineConfig(
  { ignores: ['build/**', 'node_modules/**', 'proto/gen/**', 'bench/results/**'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './agent', from: './manager', message: 'agent never imports manager.' },
            { target: './manager', from: './agent', message: 'manager never imports agent.' },
            { target: './manager', from: './cli', message: 'manager never imports cli.' },
            { target: './agent', from: './cli', message: 'agent never imports cli.' },
            {
              target: './common',
              from: ['./manager', './agent', './cli'],
              message: 'common is a leaf.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['manager/raft/core/**/*.ts'],
    ignores: ['manager/raft/core/**/*.test.ts'],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Tests of the core may use the test framework; the core itself imports nothing outside.
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './manager/raft/core',
              from: './',
              except: ['./manager/raft/core'],
              message: 'raft/core imports nothing outside itself.',
            },
          ],
        },
      ],
      'no-restricted-imports': ['error', { patterns: nodeBuiltins }],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'time is injected: use tick().' },
        { name: 'setInterval', message: 'time is injected: use tick().' },
        { name: 'setImmediate', message: 'time is injected.' },
        { name: 'Date', message: 'time is injected: use tick().' },
        { name: 'process', message: 'raft/core is pure.' },
        { name: 'globalThis', message: 'raft/core is pure.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'randomness is injected.' },
      ],
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      // Tests assemble parts across the boundaries (a dispatcher test drives real agent sessions);
      // the zones hold for the code that ships.
      'import-x/no-restricted-paths': 'off',
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
  prettier,
);
