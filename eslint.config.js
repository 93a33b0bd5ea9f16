import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/spec/generated/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { paths: [
        { name: 'koffi', message: 'koffi is only imported in src/linux' },
        { name: 'yargs', message: 'yargs is only imported in src/cli' },
      ] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'process.exit only in src/cli' }],
    },
  },
  { files: ['src/linux/**'], rules: { 'no-restricted-imports': 'off' } },
  {
    // bin/tsrun's entry is CommonJS like the bundle it loads.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['src/cli/**', 'scripts/**', 'test/**', 'fixtures/**'], rules: { 'no-restricted-imports': 'off', 'no-restricted-properties': 'off' } },
);
