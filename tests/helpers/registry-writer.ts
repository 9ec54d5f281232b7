/**
 * A separate OS process for registry concurrency tests: applies `count` feature views, one `Registry.update`
 * each, against a shared registry. Prints `ready`, waits for a line on stdin, runs, then prints
 * `{ attempts, startedAt, finishedAt }` as JSON.
 *
 * @example echo go | node --import tsx tests/helpers/registry-writer.ts '{"type":"sqlite","path":"r.db"}' shop w1 15
 */
import { entity } from '../../src/definitions/entity.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { parquetSource } from '../../src/definitions/source.js';
import { int64 } from '../../src/definitions/value-types.js';
import { openRegistryStore, type RegistryStoreConfig } from '../../src/registry/open-registry.js';
import { Registry } from '../../src/registry/registry.js';
import type { RegistryStore } from '../../src/registry/registry-store.js';
import { awaitRelease } from './released-child.js';

const [configJson, project, prefix, countText] = process.argv.slice(2);
if (configJson === undefined || project === undefined || prefix === undefined || countText === undefined) {
  throw new Error('usage: registry-writer.ts <config-json> <project> <prefix> <count>');
}

const store = openRegistryStore(JSON.parse(configJson) as RegistryStoreConfig);
// A few milliseconds between reading the latest version and committing, as a writer that plans, validates or
// talks to a remote database has: it widens the race window so the two processes really do collide.
const slowCommit: RegistryStore = {
  kind: store.kind,
  latest: (p) => store.latest(p),
  get: (p, v) => store.get(p, v),
  commit: async (p, v, snapshot) => {
    await new Promise((r) => setTimeout(r, 3));
    return store.commit(p, v, snapshot);
  },
  history: (p, limit) => store.history(p, limit),
  getBookmark: (p, view) => store.getBookmark(p, view),
  setBookmark: (p, view, endMs) => store.setBookmark(p, view, endMs),
  close: () => store.close(),
};
const registry = new Registry(slowCommit, project);
const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const events = parquetSource({ name: 'events', path: 'data/events', timestampField: 'ts' });

// Connect (and create the tables) first, then report ready and wait for the go line on stdin: the parent
// releases both writers at once, so their updates interleave whatever each process's start-up time.
await registry.state();
await awaitRelease();

const startedAt = Date.now();
let attempts = 0;
for (let i = 0; i < Number(countText); i++) {
  const view = featureView({
    name: `${prefix}_${i}`,
    entities: [user],
    source: events,
    schema: { n: int64() },
  });
  const result = await registry.update(
    (s) => ({
      ...s,
      entities: s.entities.some((e) => e.name === 'user') ? s.entities : [...s.entities, user],
      sources: s.sources.some((x) => x.name === 'events') ? s.sources : [...s.sources, events],
      featureViews: [...s.featureViews, view],
    }),
    { author: prefix, message: `add ${view.name}` },
  );
  attempts += result.attempts;
}
await store.close();
process.stdout.write(`${JSON.stringify({ attempts, startedAt, finishedAt: Date.now() })}\n`);
