/**
 * A separate OS process that opens every embedded SQLite store on one file at a moment the parent chooses, for
 * the concurrent-open test: prints `ready`, waits for a line on stdin, opens and closes the stores, prints `ok`.
 *
 * @example echo go | node --import tsx tests/helpers/sqlite-opener.ts /tmp/x 0 20
 */
import { SqliteProfileStore } from '../../src/monitoring/sqlite/sqlite-profile-store.js';
import { SqliteOnlineStore } from '../../src/online/sqlite/sqlite-online-store.js';
import { SqliteResultsStore } from '../../src/quality/sqlite/sqlite-results-store.js';
import { SqliteRegistryStore } from '../../src/registry/sqlite/sqlite-registry-store.js';
import { awaitRelease } from './released-child.js';

const [dir, order = '0', filesText = '1'] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: sqlite-opener.ts <dir> [order] [files]');

await awaitRelease();

// The order differs by process (argv[3]) so that different stores' first opens race each other.
const openers = [
  (path: string) => new SqliteRegistryStore(path),
  (path: string) => new SqliteOnlineStore({ path }),
  (path: string) => new SqliteResultsStore(path),
  (path: string) => new SqliteProfileStore(path),
];
const shift = Number(order) % openers.length;
// Every process opens the same fresh files in the same sequence: each file is a new race.
for (let f = 0; f < Number(filesText); f++) {
  const path = `${dir}/tessera-${f}.db`;
  for (const open of [...openers.slice(shift), ...openers.slice(0, shift)]) await open(path).close();
}
process.stdout.write('ok\n');
