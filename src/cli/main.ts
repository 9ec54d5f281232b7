import { Command } from 'commander';
import { registerDataCommands } from './commands/data-commands.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { registerFreshnessCommand } from './commands/freshness-command.js';
import { registerMonitorCommands } from './commands/monitor-commands.js';
import { registerRepoCommands } from './commands/repo-commands.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerSkewCommand } from './commands/skew-command.js';
import { registerStreamCommand, registerVerifyConsistencyCommand } from './commands/stream-command.js';
import { registerValidateCommands } from './commands/validate-command.js';
import { EXIT } from './output.js';

/** Builds the `tessera` command line. Exported so tests can run commands in-process. */
export function buildProgram(): Command {
  const program = new Command()
    .name('tessera')
    .description('Tessera feature platform: define features once; train, materialize and serve them.')
    .version('0.1.0')
    .option('-r, --repo <dir>', 'feature repo (folder with tessera.yaml)', '.')
    .option('--json', 'machine-readable output on stdout')
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors exit 2 like every other input problem; --help and --version exit 0.
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.invalid);
    });
  registerRepoCommands(program);
  registerDataCommands(program);
  registerServeCommand(program);
  registerStreamCommand(program);
  registerVerifyConsistencyCommand(program);
  registerValidateCommands(program);
  registerFreshnessCommand(program);
  registerSkewCommand(program);
  registerDemoCommand(program);
  registerMonitorCommands(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv as string[]);
}
