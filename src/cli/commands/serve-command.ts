import type { Command } from 'commander';
import { FeatureStore } from '../../feature-store.js';
import { action, type GlobalOptions } from '../output.js';

/** `serve`: the HTTP feature server, until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve online features over HTTP (Feast-compatible /get-online-features, /push)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'port', (v) => Number.parseInt(v, 10), 6566)
    .option(
      '--api-key <key>',
      'require this API key (repeatable; adds to serving.api_keys)',
      (v, prev: string[]) => [...prev, v],
      [],
    )
    .option('--log-level <level>', 'info | warn | error', 'warn')
    .action(
      action(
        async (
          o: { host: string; port: number; apiKey: string[]; logLevel: 'info' | 'warn' | 'error' },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const store = await FeatureStore.open(g.repo ?? '.');
          const serving = store.config.serving;
          // Loaded here: the HTTP stack (Fastify) is only worth its start-up time to this command.
          const { buildServer } = await import('../../server/http-server.js');
          const app = await buildServer(store, {
            apiKeys: [
              ...serving.api_keys,
              ...o.apiKey,
              ...(process.env['TESSERA_API_KEY'] ? [process.env['TESSERA_API_KEY']] : []),
            ],
            bodyLimitBytes: serving.body_limit_bytes,
            maxEntitiesPerRequest: serving.max_entities_per_request,
            logLevel: o.logLevel,
          });
          const address = await app.listen({ host: o.host, port: o.port });
          const info = {
            status: 'listening',
            address,
            project: store.config.project,
            registryVersion: store.version,
          };
          process.stdout.write(
            g.json
              ? `${JSON.stringify(info)}\n`
              : `serving ${info.project} (registry v${info.registryVersion}) on ${address}\n`,
          );
          await new Promise<void>((resolveStop) => {
            const stop = () => resolveStop();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          await app.close();
          await store.close();
        },
      ),
    );
}
