import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { TesseraError } from '../../core/errors.js';
import { parseTime } from '../../core/parse-time.js';
import { FeatureStore } from '../../feature-store.js';
import type { SpineInput } from '../../offline/offline-store.js';
import { defaultQuarantineDir } from '../../quality/run-validation.js';
import { action, emit, type GlobalOptions, table } from '../output.js';
import { progress } from '../progress.js';
import { printGateWarnings } from './validate-command.js';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** `historical`, `materialize`, `materialize-incremental`, `get`, `push`. */
export function registerDataCommands(program: Command): void {
  program
    .command('historical')
    .description('build a point-in-time-correct training set for a spine of entities and timestamps')
    .option('--spine <path>', 'spine file (.parquet or .csv) with join keys and a timestamp column')
    .option('--spine-sql <query>', 'spine as a SQL query (DuckDB; may read files)')
    .option('--features <refs>', 'comma-separated view:feature references', list)
    .option('--service <name>', 'a feature service instead of --features')
    .option('--timestamp-column <name>', 'spine timestamp column', 'event_timestamp')
    .option('--full-feature-names', 'name columns view__feature')
    .option('--out <path>', 'write the training set here (Parquet)')
    .option('--head <n>', 'print the first n rows', (v) => Number.parseInt(v, 10), 5)
    .option('--force', 'build it even if an error-level data-quality expectation fails')
    .action(
      action(
        async (
          o: {
            spine?: string;
            spineSql?: string;
            features?: string[];
            service?: string;
            timestampColumn: string;
            fullFeatureNames?: boolean;
            out?: string;
            head: number;
            force?: boolean;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          if ((o.spine === undefined) === (o.spineSql === undefined)) {
            throw new TesseraError('give exactly one spine', {
              field: '--spine',
              expected: '--spine <file> or --spine-sql <query>',
            });
          }
          if ((o.features === undefined) === (o.service === undefined)) {
            throw new TesseraError('give features or a service', {
              field: '--features',
              expected: '--features v:f,… or --service <name>',
            });
          }
          const spine: SpineInput =
            o.spine !== undefined
              ? { kind: 'file', path: resolve(o.spine) }
              : { kind: 'sql', query: o.spineSql as string };
          const store = await FeatureStore.open(g.repo ?? '.');
          const bar = progress(!g.json);
          try {
            const t0 = performance.now();
            const set = await store.getHistoricalFeatures({
              spine,
              ...(o.features ? { features: o.features } : {}),
              ...(o.service ? { featureService: o.service } : {}),
              fullFeatureNames: o.fullFeatureNames === true,
              timestampColumn: o.timestampColumn,
              onProgress: (p) => bar.update(p.phase, p.done, p.total),
              force: o.force === true,
              onValidation: printGateWarnings,
            });
            if (o.out) await set.writeParquet(resolve(o.out));
            const seconds = (performance.now() - t0) / 1000;
            bar.stop();
            const head = o.head > 0 ? (await set.rows()).slice(0, o.head) : [];
            const summary = {
              rows: set.rowCount,
              columns: set.columnNames,
              seconds,
              out: o.out ? resolve(o.out) : null,
              head,
            };
            await set.close();
            emit(g, summary, () =>
              [
                `${pc.green('training set')}: ${set.rowCount.toLocaleString()} rows × ${summary.columns.length} columns in ${seconds.toFixed(2)} s` +
                  (o.out ? ` → ${summary.out}` : ''),
                head.length > 0
                  ? table(
                      summary.columns,
                      head.map((r) => summary.columns.map((c) => fmt(r[c]))),
                    )
                  : '',
              ].join('\n'),
            );
          } finally {
            bar.stop();
            await store.close();
          }
        },
      ),
    );

  const materializeOpts = (c: Command) =>
    c
      .option('--views <names>', 'comma-separated views (default: all online views)', list)
      .option('--force', 'load even if an error-level data-quality expectation fails');

  materializeOpts(
    program
      .command('materialize')
      .description('load the latest value per entity in [start, end) into the online store')
      .requiredOption('--start <time>', "start (ISO-8601, 'now-7d')")
      .requiredOption('--end <time>', "end (ISO-8601, 'now')")
      .option(
        '--quarantine [dir]',
        "set aside rows failing a source's row-level error checks (Parquet with _reason) and load the rest",
      ),
  ).action(
    action(
      async (
        o: { start: string; end: string; views?: string[]; force?: boolean; quarantine?: string | boolean },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        await runMaterialize(g, (store, onProgress) =>
          store.materialize({
            start: parseTime(o.start, '--start'),
            end: parseTime(o.end, '--end'),
            ...(o.views ? { views: o.views } : {}),
            onProgress,
            force: o.force === true,
            onValidation: printGateWarnings,
            ...(o.quarantine !== undefined && o.quarantine !== false
              ? {
                  quarantine:
                    o.quarantine === true
                      ? defaultQuarantineDir(store.config.repoPath)
                      : resolve(o.quarantine),
                }
              : {}),
          }),
        );
      },
    ),
  );

  materializeOpts(
    program
      .command('materialize-incremental')
      .description('materialize each view from where its last run ended up to --end')
      .requiredOption('--end <time>', "end (ISO-8601, 'now')"),
  ).action(
    action(async (o: { end: string; views?: string[]; force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      await runMaterialize(g, (store, onProgress) =>
        store.materializeIncremental({
          end: parseTime(o.end, '--end'),
          ...(o.views ? { views: o.views } : {}),
          onProgress,
          force: o.force === true,
          onValidation: printGateWarnings,
        }),
      );
    }),
  );

  program
    .command('get')
    .description('read online features for entities')
    .option('--features <refs>', 'comma-separated view:feature references', list)
    .option('--service <name>', 'a feature service instead of --features')
    .option(
      '-e, --entity <k=v,…>',
      'an entity row, e.g. user_id=42,candidate_price=19.9 (repeatable)',
      collect,
      [],
    )
    .option('--entities <json>', 'entity rows as a JSON array')
    .option('--full-feature-names', 'name outputs view__feature')
    .action(
      action(
        async (
          o: {
            features?: string[];
            service?: string;
            entity: string[];
            entities?: string;
            fullFeatureNames?: boolean;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const entities =
            o.entities !== undefined ? parseJsonRows(o.entities, '--entities') : o.entity.map(parseKv);
          if (entities.length === 0)
            throw new TesseraError('no entities given', {
              field: '--entity',
              expected: '-e user_id=42 (repeatable) or --entities JSON',
            });
          const store = await FeatureStore.open(g.repo ?? '.');
          try {
            const r = await store.getOnlineFeatures({
              entities,
              ...(o.features ? { features: o.features } : {}),
              ...(o.service ? { featureService: o.service } : {}),
              fullFeatureNames: o.fullFeatureNames === true,
            });
            emit(g, r, () =>
              table(
                ['FEATURE', ...entities.map((_, i) => `ROW ${i}`)],
                r.featureNames.map((name, j) => [
                  name,
                  ...r.rows.map(
                    (row, i) => `${fmt(row[name])} ${pc.dim(`(${(r.statuses[i] as string[])[j]})`)}`,
                  ),
                ]),
              ),
            );
          } finally {
            await store.close();
          }
        },
      ),
    );

  program
    .command('push')
    .description(
      "write rows of a view online and/or to its offline source, or send events to a source's stream",
    )
    .option('--view <name>', 'feature view whose rows to write')
    .option(
      '--source <name>',
      "streamed source whose events to send to its Kafka topic (for 'tessera stream')",
    )
    .requiredOption('--file <path>', 'rows or events as a JSON array or JSON lines (.jsonl)')
    .option('--to <where>', 'online | offline | online_and_offline (rows of a view)', 'online')
    .action(
      action(
        async (
          o: {
            view?: string;
            source?: string;
            file: string;
            to: 'online' | 'offline' | 'online_and_offline';
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          if ((o.view === undefined) === (o.source === undefined)) {
            throw new TesseraError('push needs exactly one of --view or --source', {
              field: '--view',
              expected: '--view <feature view> (rows) or --source <streamed source> (events)',
            });
          }
          if (o.source !== undefined) {
            const events = readRowsFile(resolve(o.file));
            const store = await FeatureStore.open(g.repo ?? '.');
            try {
              const sent = await store.pushEvents({ source: o.source, events });
              emit(g, sent, () => `sent ${sent.sent} events to the stream of ${o.source}`);
            } finally {
              await store.close();
            }
            return;
          }
          const view = o.view as string;
          if (!['online', 'offline', 'online_and_offline'].includes(o.to)) {
            throw new TesseraError(`invalid --to '${o.to}'`, {
              field: '--to',
              expected: 'online, offline or online_and_offline',
            });
          }
          const rows = readRowsFile(resolve(o.file));
          const store = await FeatureStore.open(g.repo ?? '.');
          try {
            const written = await store.push({ view, rows, to: o.to });
            emit(
              g,
              written,
              () =>
                `pushed ${rows.length} rows to ${view} (online ${written.online}, offline ${written.offline})`,
            );
          } finally {
            await store.close();
          }
        },
      ),
    );
}

async function runMaterialize(
  g: GlobalOptions,
  run: (
    store: FeatureStore,
    onProgress: (p: { view: string; rows: number; done: boolean }) => void,
  ) => Promise<{ view: string; startMs: number; endMs: number; rows: number; seconds: number }[]>,
): Promise<void> {
  const store = await FeatureStore.open(g.repo ?? '.');
  const bar = progress(!g.json);
  try {
    const reports = await run(store, (p) => bar.update(p.view, p.rows));
    bar.stop();
    const out = reports.map((r) => ({
      ...r,
      start: new Date(r.startMs).toISOString(),
      end: new Date(r.endMs).toISOString(),
    }));
    emit(g, out, () =>
      table(
        ['VIEW', 'START', 'END', 'ROWS', 'SECONDS', 'ROWS/S'],
        out.map((r) => [
          r.view,
          r.start,
          r.end,
          r.rows,
          r.seconds.toFixed(2),
          r.seconds > 0 ? Math.round(r.rows / r.seconds) : '-',
        ]),
      ),
    );
  } finally {
    bar.stop();
    await store.close();
  }
}

const collect = (v: string, prev: string[]) => [...prev, v];

function parseKv(text: string): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0)
      throw new TesseraError(`invalid entity '${text}'`, {
        field: '--entity',
        expected: 'key=value[,key=value…]',
      });
    const raw = part.slice(i + 1);
    row[part.slice(0, i).trim()] =
      raw !== '' && Number.isFinite(Number(raw))
        ? Number(raw)
        : raw === 'true'
          ? true
          : raw === 'false'
            ? false
            : raw;
  }
  return row;
}

function parseJsonRows(text: string, field: string): Record<string, unknown>[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TesseraError(`invalid JSON: ${(e as Error).message}`, { field });
  }
  if (!Array.isArray(v) || !v.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    throw new TesseraError('expected an array of objects', { field });
  }
  return v as Record<string, unknown>[];
}

function readRowsFile(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new TesseraError('cannot read file', { file: path }, 'NOT_FOUND');
  }
  if (extname(path) === '.jsonl' || extname(path) === '.ndjson') {
    return text
      .split('\n')
      .map((line, i) => ({ line: line.trim(), i }))
      .filter((l) => l.line !== '')
      .map(({ line, i }) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch (e) {
          throw new TesseraError(`invalid JSON: ${(e as Error).message}`, { file: path, row: i + 1 });
        }
      });
  }
  try {
    return parseJsonRows(text, 'rows');
  } catch (e) {
    throw new TesseraError((e as Error).message, { file: path });
  }
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (Array.isArray(v)) return `[${v.map(fmt).join(', ')}]`;
  return String(v);
}
