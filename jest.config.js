/** Unit tests run in parallel; real-engine tests (test/e2e) start dockerd, so make runs them one file at a time. */
const tsJest = ['ts-jest', { tsconfig: 'test/tsconfig.json' }];
module.exports = {
  projects: [
    { displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'], transform: { '^.+\\.ts$': tsJest }, testEnvironment: 'node' },
    {
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      transform: { '^.+\\.ts$': tsJest },
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
    },
  ],
};
