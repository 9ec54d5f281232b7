import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openOnlineStore } from '../../src/online/open-online-store.js';
import { RedisOnlineStore } from '../../src/online/redis/redis-online-store.js';
import { runOnlineStoreConformance } from '../conformance/online-store.case.js';
import { redisUrl } from '../helpers/services.js';

// One prefix per run: parallel test files and earlier runs on the shared server never see these keys.
const keyPrefix = `tsr_test_${randomUUID().slice(0, 8)}`;
const admin = new Redis(redisUrl());

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scanBuffer(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.unlink(...keys);
    cursor = next.toString();
  } while (cursor !== '0');
  await admin.quit();
});

runOnlineStoreConformance(
  'redis',
  async (options) => new RedisOnlineStore({ url: redisUrl(), keyPrefix, ...options }),
);

describe('RedisOnlineStore', () => {
  const project = () => `redis_${randomUUID().slice(0, 8)}`;
  const row = (entityKey: string, eventTs: number, values: Record<string, unknown> = { v: entityKey }) => ({
    entityKey,
    eventTs,
    createdTs: 0,
    values,
  });

  it('answers a read of many views × entities with a single command', async () => {
    const client = new Redis(redisUrl());
    const store = new RedisOnlineStore({ client, keyPrefix });
    try {
      const p = project();
      const views = ['a', 'b', 'c', 'd'].map((name) => ({
        project: p,
        name,
        ttlMs: name === 'd' ? 60_000 : 0,
      }));
      const keys = Array.from({ length: 100 }, (_, i) => String(i));
      for (const view of views)
        await store.write(
          view,
          keys.map((k) => row(k, Date.now())),
        );
      const sent = vi.spyOn(client, 'sendCommand');
      const result = await store.read(views.map((view) => ({ view, entityKeys: keys })));
      expect(sent.mock.calls.map(([command]) => command.name)).toEqual(['mget']);
      expect(result.flat().every((r) => r !== null)).toBe(true);
      sent.mockRestore();
    } finally {
      await store.close();
      // The store does not own a client it was given.
      expect(client.status).toBe('ready');
      await client.quit();
    }
  });

  it('pipelines a large write as several script calls', async () => {
    const client = new Redis(redisUrl());
    const store = new RedisOnlineStore({ client, keyPrefix, writeBatchSize: 100, maxWritesInFlight: 3 });
    try {
      const view = { project: project(), name: 'v', ttlMs: 0 };
      // Connect first: commands queued while connecting go through sendCommand a second time.
      await client.ping();
      const sent = vi.spyOn(client, 'sendCommand');
      await store.write(
        view,
        Array.from({ length: 1050 }, (_, i) => row(`k${i}`, 1)),
      );
      const names = sent.mock.calls.map(([command]) => command.name);
      // 11 write-script calls, then one freshness update for the whole write.
      expect(names.filter((n) => n === 'evalsha')).toHaveLength(12);
      sent.mockRestore();
      const [rows] = await store.read([{ view, entityKeys: ['k0', 'k1049'] }]);
      expect(rows?.map((r) => r?.values['v'])).toEqual(['k0', 'k1049']);
    } finally {
      await store.close();
      await client.quit();
    }
  });

  it('sets each key to expire at eventTs + TTL + retention, and persists keys of views without TTL', async () => {
    const store = new RedisOnlineStore({ url: redisUrl(), keyPrefix, retentionMs: 5000 });
    try {
      const p = project();
      const eventTs = Date.now();
      await store.write({ project: p, name: 'v', ttlMs: 60_000 }, [row('1', eventTs)]);
      const key = `${keyPrefix}:${p}:v:{1}`;
      expect(await admin.pexpiretime(key)).toBe(eventTs + 65_000);
      await store.write({ project: p, name: 'v', ttlMs: 0 }, [row('1', eventTs + 1)]);
      expect(await admin.pexpiretime(key)).toBe(-1);
      // An older row changes neither the value nor the expiry.
      await store.write({ project: p, name: 'v', ttlMs: 60_000 }, [row('1', eventTs - 1)]);
      expect(await admin.pexpiretime(key)).toBe(-1);
    } finally {
      await store.close();
    }
  });

  it('loads its script again when the server answers NOSCRIPT', async () => {
    const client = new Redis(redisUrl());
    const store = new RedisOnlineStore({ client, keyPrefix });
    try {
      const view = { project: project(), name: 'v', ttlMs: 0 };
      const real = client.evalsha.bind(client);
      // Flushing the server's script cache would disturb other suites sharing it: simulate the answer instead.
      const evalsha = vi
        .spyOn(client, 'evalsha')
        .mockImplementationOnce(() =>
          Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
        );
      evalsha.mockImplementation(real);
      const script = vi.spyOn(client, 'script');
      await store.write(view, [row('1', 1)]);
      expect(script).toHaveBeenCalledWith('LOAD', expect.any(String));
      // The refused call, its retry, then the write's freshness update.
      expect(evalsha).toHaveBeenCalledTimes(3);
      expect((await store.read([{ view, entityKeys: ['1'] }]))[0]?.[0]?.values).toEqual({ v: '1' });
    } finally {
      await store.close();
      await client.quit();
    }
  });

  it('rejects a key prefix that would break hash tags', () => {
    expect(() => new RedisOnlineStore({ url: redisUrl(), keyPrefix: 'a{b}' })).toThrow(/key prefix/);
  });

  it('is what openOnlineStore gives for type redis', async () => {
    const store = openOnlineStore({ type: 'redis', url: redisUrl(), keyPrefix });
    expect(store.kind).toBe('redis');
    const view = { project: project(), name: 'v', ttlMs: 0 };
    await store.write(view, [row('1', 1)]);
    expect((await store.read([{ view, entityKeys: ['1'] }]))[0]?.[0]?.eventTs).toBe(1);
    await store.close();
  });
});
