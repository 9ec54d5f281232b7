import type { RegistryStoreConfig } from '../registry/open-registry.js';
import { PostgresProfileStore } from './postgres/postgres-profile-store.js';
import type { ProfileStore } from './profile-store.js';
import { SqliteProfileStore } from './sqlite/sqlite-profile-store.js';

/**
 * Opens the profile store in the registry database a config names (same SQLite file, same PostgreSQL schema).
 *
 * @example const store = openProfileStore({ type: 'sqlite', path: '.tessera/registry.db' });
 */
export function openProfileStore(config: RegistryStoreConfig): ProfileStore {
  switch (config.type) {
    case 'sqlite':
      return new SqliteProfileStore(config.path);
    case 'postgres':
      return new PostgresProfileStore(
        config.schema === undefined ? { url: config.url } : { url: config.url, schema: config.schema },
      );
  }
}
