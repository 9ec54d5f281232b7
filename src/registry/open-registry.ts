import { PostgresRegistryStore } from './postgres/postgres-registry-store.js';
import type { RegistryStore } from './registry-store.js';
import { SqliteRegistryStore } from './sqlite/sqlite-registry-store.js';

/** The `registry:` section of tessera.yaml, after parsing. */
export type RegistryStoreConfig =
  | { readonly type: 'sqlite'; readonly path: string }
  | { readonly type: 'postgres'; readonly url: string; readonly schema?: string };

/**
 * Opens the registry store a config names. Nothing connects yet for PostgreSQL: tables are created on first use.
 *
 * @example
 * const store = openRegistryStore({ type: 'sqlite', path: '.tessera/registry.db' });
 * const pgStore = openRegistryStore({ type: 'postgres', url: process.env.REGISTRY_URL!, schema: 'features' });
 */
export function openRegistryStore(config: RegistryStoreConfig): RegistryStore {
  switch (config.type) {
    case 'sqlite':
      return new SqliteRegistryStore(config.path);
    case 'postgres':
      return new PostgresRegistryStore(
        config.schema === undefined ? { url: config.url } : { url: config.url, schema: config.schema },
      );
  }
}
