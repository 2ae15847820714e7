#!/usr/bin/env node
import { createLogger } from './audit/logger';
import { loadSettings, settingsHelp, SettingsError } from './config/settings';
import type { CommandIo } from './commands/command-io';
import { startPlugin } from './run';
import { VERSION } from './version';

/** A starting plugin's first log lines wait this long for winston, past the daemon's first Activate (audit/logger.ts). */
const PLUGIN_LOG_DEFER_MS = 100;

/**
 * The other commands are required when they run (or for --help): `run` is how the daemon's plugin starts, and every
 * module it loads before listening is start-up time on every boot and restart.
 */
const commands = {
  check: () => require('./commands/check') as typeof import('./commands/check'),
  status: () => require('./commands/status') as typeof import('./commands/status'),
  policy: () => require('./commands/policy') as typeof import('./commands/policy'),
  simulate: () => require('./commands/simulate') as typeof import('./commands/simulate'),
  validate: () => require('./commands/validate') as typeof import('./commands/validate'),
  install: () => require('./install/commands') as typeof import('./install/commands'),
};

const usage = () => `image-access ${VERSION}: Docker Image Access Management for any Docker engine (authorization plugin)

Usage:
  image-access [run] [options]     serve the Docker AuthZ plugin protocol on a unix socket
${commands.install().INSTALL_USAGE}
${commands.check().CHECK_USAGE}
${commands.status().STATUS_USAGE}
${commands.policy().POLICY_USAGE}
${commands.simulate().SIMULATE_USAGE}
${commands.validate().VALIDATE_USAGE}
  image-access --help | --version

Every option is also an environment variable (the managed plugin is configured with \`docker plugin set\`):
${settingsHelp()}
`;

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = argv[0]?.startsWith('-') === false ? argv : ['run', ...argv];
  if (command === 'install' || command === 'uninstall') {
    await commands.install().runInstallCommand(command, rest, { out: (line) => process.stdout.write(`${line}\n`), now: () => new Date(), env: process.env });
    return 0;
  }
  if (command === 'check' || command === 'status' || command === 'validate' || command === 'policy' || command === 'simulate') {
    const io: CommandIo = {
      env: process.env,
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      clock: () => Date.now(),
    };
    const run = {
      check: () => commands.check().runCheck,
      status: () => commands.status().runStatus,
      validate: () => commands.validate().runValidate,
      policy: () => commands.policy().runPolicy,
      simulate: () => commands.simulate().runSimulate,
    }[command]();
    return run(rest, io);
  }
  if (command !== 'run') {
    process.stderr.write(`image-access: unknown command ${JSON.stringify(command)}\n\n${usage()}`);
    return 2;
  }
  const settings = loadSettings(process.env, rest);
  const logger = createLogger(settings.logLevel, settings.logStreams, PLUGIN_LOG_DEFER_MS);
  // A dead plugin locks every docker command on the host: log and carry on rather than exit.
  process.on('uncaughtException', (error) => logger.error('uncaught exception', { error: String(error), stack: error.stack }));
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: String(reason) }));
  const plugin = await startPlugin(settings, logger);
  let stopping = false;
  // Not `once`: a second signal while the requests in flight are answered must not kill the process with them.
  const shutdown = (signal: string) => {
    logger.info(stopping ? 'already shutting down' : 'shutting down', { signal });
    if (stopping) return;
    stopping = true;
    void plugin.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    const message = error instanceof SettingsError ? `invalid settings:\n${error.message}` : error instanceof Error ? error.message : String(error);
    process.stderr.write(`image-access: ${message}\n`);
    process.exit(1);
  },
);
