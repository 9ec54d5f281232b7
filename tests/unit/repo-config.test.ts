import { describe, expect, it } from 'vitest';
import { parseRepoConfig } from '../../src/config/repo-config.js';

describe('tessera.yaml', () => {
  it('fills embedded defaults and makes paths absolute', () => {
    const c = parseRepoConfig('project: shop\n', '/repos/shop/tessera.yaml');
    expect(c.repoPath).toBe('/repos/shop');
    expect(c.registry).toEqual({ type: 'sqlite', path: '/repos/shop/.tessera/registry.db' });
    expect(c.online_store).toEqual({ type: 'sqlite', path: '/repos/shop/.tessera/online.db' });
    expect(c.offline_store.type).toBe('duckdb');
    expect(c.definitions).toEqual(['features.ts']);
  });

  it('reads ${VAR} and ${VAR:-default} from the environment', () => {
    process.env['TESSERA_TEST_URL'] = 'redis://127.0.0.1:7000';
    const c = parseRepoConfig(
      'project: p\nonline_store: { type: redis, url: "${TESSERA_TEST_URL}" }\nregistry: { type: postgres, url: "${NOPE_URL:-postgres://x}" }\n',
      '/r/tessera.yaml',
    );
    expect(c.online_store).toEqual({ type: 'redis', url: 'redis://127.0.0.1:7000' });
    expect(c.registry).toEqual({ type: 'postgres', url: 'postgres://x' });
    expect(() =>
      parseRepoConfig(
        'project: p\nregistry: { type: postgres, url: "${NOT_SET_ANYWHERE}" }\n',
        '/r/tessera.yaml',
      ),
    ).toThrow(/environment variable NOT_SET_ANYWHERE is not set/);
  });

  it('names the file, line and field of a mistake', () => {
    expect(() =>
      parseRepoConfig('project: p\nonline_store:\n  type: memcached\n', '/r/tessera.yaml'),
    ).toThrow(/\/r\/tessera\.yaml, row 3, field 'online_store\.type'/);
    expect(() => parseRepoConfig('project: p\nregistyr: {}\n', '/r/tessera.yaml')).toThrow(/registyr/);
    expect(() => parseRepoConfig('project: [\n', '/r/tessera.yaml')).toThrow(
      /\/r\/tessera\.yaml.*invalid YAML/,
    );
    expect(() => parseRepoConfig('project: 1abc\n', '/r/tessera.yaml')).toThrow(/field 'project'/);
  });

  it('reads feature_logging with defaults, and names a bad rate or interval', () => {
    expect(parseRepoConfig('project: p\n', '/r/tessera.yaml').feature_logging).toBeUndefined();
    const c = parseRepoConfig(
      'project: p\nfeature_logging: { sample_rate: 0.25, services: { ranker: { sample_rate: 1 } } }\n',
      '/r/tessera.yaml',
    );
    expect(c.feature_logging).toEqual({
      enabled: true,
      sample_rate: 0.25,
      path: 'feature_logs',
      queue_size: 10_000,
      flush_interval: '1s',
      max_file_rows: 100_000,
      thread_priority: 'low',
      services: { ranker: { sample_rate: 1 } },
    });
    expect(() =>
      parseRepoConfig('project: p\nfeature_logging: { thread_priority: lowest }\n', '/r/tessera.yaml'),
    ).toThrow(/field 'feature_logging\.thread_priority'/);
    expect(() =>
      parseRepoConfig('project: p\nfeature_logging:\n  sample_rate: 2\n', '/r/tessera.yaml'),
    ).toThrow(/row 3, field 'feature_logging\.sample_rate'/);
    expect(() =>
      parseRepoConfig('project: p\nfeature_logging: { flush_interval: soon }\n', '/r/tessera.yaml'),
    ).toThrow(/field 'feature_logging\.flush_interval'.*a duration such as '1s'/);
  });
});
