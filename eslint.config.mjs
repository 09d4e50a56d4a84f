// ESLint (`npm run lint`, part of `npm test`): typescript-eslint's recommended rules over the sources, tests and scripts.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', '.services/', 'test/fixtures/', 'register.js', 'register.mjs', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Patches take the untyped objects of the libraries they wrap (exports, configs, commands): `any` there is deliberate.
      '@typescript-eslint/no-explicit-any': 'off',
      // Wrappers hand the caller's own `arguments` on as they came (applyArgs): no copy, the same count.
      'prefer-rest-params': 'off',
      // A leading underscore names a parameter or binding that is there only for its position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/hooks/*.ts'],
    // A declaration's `tracing: () => require('../tracing/<name>')` loads the span logic only when the library loads.
    rules: { '@typescript-eslint/no-require-imports': ['error', { allow: ['^\\.\\./tracing/'] }] },
  },
  {
    files: ['test/**/*.ts'],
    // Tests require libraries after the hooks are installed (which must come first), npm aliases and library internals by name.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['scripts/**/*.js'],
    // CommonJS Node scripts (the bench, the services, the demo).
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
