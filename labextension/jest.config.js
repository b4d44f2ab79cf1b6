/**
 * Unit tests for the pure modules (room names, status, people, the final
 * newline, versions and authors): ts-jest in node, no DOM and no JupyterLab.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  collectCoverageFrom: [
    'src/authors.ts',
    'src/channel.ts',
    'src/files.ts',
    'src/httpprovider.ts',
    'src/people.ts',
    'src/protocol.ts',
    'src/richtext.ts',
    'src/status.ts',
    'src/versions.ts'
  ],
  coverageReporters: ['text'],
  coverageThreshold: { global: { lines: 95, branches: 90 } }
};
