import { TesseraError } from '../core/errors.js';
import type { OnlineStore } from './online-store.js';
import { RedisOnlineStore } from './redis/redis-online-store.js';
import { SqliteOnlineStore } from './sqlite/sqlite-online-store.js';

/** The `online_store` section of a project's config: `type` selects the implementation. */
export type OnlineStoreConfig =
  | {
      readonly type: 'sqlite';
      /** Database file, or `':memory:'`. */
      readonly path: string;
      /** Extra time rows are kept after their TTL; defaults to one day. */
      readonly retentionMs?: number;
    }
  | {
      readonly type: 'redis';
      /** `redis://[user:password@]host:port[/db]`. */
      readonly url: string;
      /** First segment of every key; defaults to `tsr`. */
      readonly keyPrefix?: string;
      /** Extra time rows are kept after their TTL; defaults to one day. */
      readonly retentionMs?: number;
    };

/**
 * Opens the online store a config names. The caller owns it and must `close()` it.
 *
 * @example
 * const dev = openOnlineStore({ type: 'sqlite', path: '.tessera/online.db' });
 * const prod = openOnlineStore({ type: 'redis', url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
 */
export function openOnlineStore(config: OnlineStoreConfig): OnlineStore {
  switch (config.type) {
    case 'sqlite':
      return new SqliteOnlineStore(
        config.retentionMs === undefined
          ? { path: config.path }
          : { path: config.path, retentionMs: config.retentionMs },
      );
    case 'redis':
      return new RedisOnlineStore({
        url: config.url,
        ...(config.keyPrefix === undefined ? {} : { keyPrefix: config.keyPrefix }),
        ...(config.retentionMs === undefined ? {} : { retentionMs: config.retentionMs }),
      });
    default: {
      const type: unknown = (config as { type?: unknown }).type;
      throw new TesseraError(
        'unknown online store type',
        { field: 'online_store.type', expected: "'sqlite' or 'redis'", actual: JSON.stringify(type) },
        'INVALID_CONFIG',
      );
    }
  }
}
