import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { valuesAgree } from './aggregation/agreement.js';
import { loadRepoConfig, type RepoConfig } from './config/repo-config.js';
import { parseDuration } from './core/duration.js';
import { encodeEntityKey } from './core/entity-key.js';
import { TesseraAggregateError, TesseraError } from './core/errors.js';
import type { RegistryState } from './definitions/definition.js';
import { type FeatureRef, sourceColumn } from './definitions/feature-view.js';
import type { OnDemandFeatureView } from './definitions/on-demand-feature-view.js';
import { type AggregationSelection, joinKeysOf, resolveFeatures } from './definitions/resolve.js';
import type { Source } from './definitions/source.js';
import { validateState, validateViewAgainstSource } from './definitions/validate.js';
import { FeatureLogger } from './logging/feature-logger.js';
import { type SkewOptions, type SkewReport, skewFromLogs } from './logging/skew-from-logs.js';
import {
  firstRunStartMs,
  type MaterializeReport,
  materialize,
  materializeView,
  selectViews,
} from './materialize/materialize.js';
import { evaluateFreshness, type FreshnessReport, watermarkOf } from './metrics/freshness-report.js';
import type { TesseraMetrics } from './metrics/metrics.js';
import { instrumentStream } from './metrics/stream-metrics.js';
import { DuckDbOfflineStore } from './offline/duckdb/duckdb-offline-store.js';
import type { OfflineStore, OfflineWriter, SourceColumn, SpineInput } from './offline/offline-store.js';
import type { OnlineStore } from './online/online-store.js';
import { openOnlineStore } from './online/open-online-store.js';
import {
  DataQuality,
  type ValidateRequest,
  type ValidationReport,
  withQuarantinedSources,
} from './quality/data-quality.js';
import type { ExpectationInput } from './quality/expectations.js';
import { validateQualityDefinitions } from './quality/validate-expectations.js';
import { openRegistryStore } from './registry/open-registry.js';
import { Registry } from './registry/registry.js';
import { type LoadedRepo, loadRepo, loadTransform } from './repo/load-repo.js';
import { OnlineServing, type ServedResult, type ServingObserver } from './serving/online-serving.js';
import { toOnlineRows } from './serving/push.js';
import { type FeatureSelector, type OnlineRowOf, selectorRefs } from './serving/typed-result.js';
import type { OnlineFeaturesRequest, PushRequest } from './serving/types.js';
import { decodeEvent, type EventSchema, eventSchemaOf } from './stream/event-decoder.js';
import type { KafkaEventProducer } from './stream/kafka/kafka-producer.js';
import { MemoryLog, MemoryLogSource } from './stream/memory/memory-log.js';
import { ParquetReplaySource } from './stream/replay/parquet-replay-source.js';
import { safeName } from './stream/staged-files.js';
import type { StreamSource } from './stream/stream-source.js';
import { type StreamCounters, StreamWorker } from './stream/stream-worker.js';
import { duckType, TrainingSet } from './training/training-set.js';

/** The stream engine running in this process over an in-process log (see `FeatureStore.startLocalStream`). */
export interface LocalStream {
  readonly counters: StreamCounters;
  push(events: readonly Readonly<Record<string, unknown>>[]): void;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** What `verifyConsistency` found: the share of sampled values that agree, and every disagreement. */
export interface ConsistencyReport {
  readonly at: string;
  score: number;
  compared: number;
  readonly views: {
    readonly view: string;
    readonly entities: number;
    readonly compared: number;
    readonly mismatches: {
      entity: Record<string, unknown>;
      feature: string;
      online: unknown;
      offline: unknown;
    }[];
  }[];
}

export interface OpenOptions {
  /** Reload the registry state this often when serving (ms); default 10 s. */
  readonly registryRefreshMs?: number;
}

const noLog = () => undefined;

/**
 * The SDK entry point: one object over a feature repo's registry, offline store and online store.
 *
 * @example
 * const store = await FeatureStore.open('examples/ecommerce');
 * const training = await store.getHistoricalFeatures({ spine: { kind: 'file', path: 'spine.parquet' },
 *   features: ['user_stats:clicks_7d'] });
 * await training.writeParquet('train.parquet');
 * await store.materialize({ start: new Date(0), end: new Date() });
 * const online = await store.getOnlineFeatures({ features: ['user_stats:clicks_7d'], entities: [{ user_id: 1 }] });
 */
export class FeatureStore {
  readonly registry: Registry;
  private state: RegistryState | undefined;
  private stateVersion = -1;
  private stateLoadedAt = 0;
  private refreshing: Promise<void> | undefined;
  private readonly serving: OnlineServing;
  private producer: KafkaEventProducer | undefined;
  /** Data-quality expectations: validation runs and their history (src/quality/). */
  readonly quality: DataQuality;
  /** Feature logging (tessera.yaml `feature_logging`), when enabled: its `counters` say what was logged and lost. */
  readonly featureLogger: FeatureLogger | undefined;

  private constructor(
    readonly config: RepoConfig,
    readonly offline: OfflineStore & OfflineWriter,
    readonly online: OnlineStore,
    registry: Registry,
    private readonly options: OpenOptions,
  ) {
    this.registry = registry;
    this.quality = new DataQuality({
      project: config.project,
      repoPath: config.repoPath,
      connections: Object.fromEntries(Object.entries(config.connections).map(([k, v]) => [k, v.url])),
      results:
        config.registry.type === 'sqlite'
          ? { type: 'sqlite', path: config.registry.path }
          : {
              type: 'postgres',
              url: config.registry.url,
              ...(config.registry.schema ? { schema: config.registry.schema } : {}),
            },
      ...(config.offline_store.memory_limit ? { memoryLimit: config.offline_store.memory_limit } : {}),
      ...(config.offline_store.threads ? { threads: config.offline_store.threads } : {}),
    });
    this.serving = new OnlineServing({
      store: online,
      state: () => this.currentState(),
      loadTransform: (view: OnDemandFeatureView) => loadTransform(config.repoPath, view),
      fallbacks: config.serving.fallbacks,
      ...(config.serving.deadline_ms !== undefined ? { deadlineMs: config.serving.deadline_ms } : {}),
    });
    const logging = config.feature_logging;
    this.featureLogger =
      logging?.enabled === true
        ? new FeatureLogger({
            dir: resolve(config.repoPath, logging.path),
            sampleRate: logging.sample_rate,
            serviceRates: Object.fromEntries(
              Object.entries(logging.services).map(([name, s]) => [name, s.sample_rate]),
            ),
            queueSize: logging.queue_size,
            flushIntervalMs: parseDuration(logging.flush_interval, 'feature_logging.flush_interval'),
            maxFileRows: logging.max_file_rows,
            threadPriority: logging.thread_priority,
          })
        : undefined;
  }

  /** Opens the feature repo in `repoDir` (the folder holding tessera.yaml). */
  static async open(repoDir = '.', options: OpenOptions = {}): Promise<FeatureStore> {
    return FeatureStore.fromConfig(loadRepoConfig(repoDir), options);
  }

  static async fromConfig(config: RepoConfig, options: OpenOptions = {}): Promise<FeatureStore> {
    const registryStore = openRegistryStore(
      config.registry.type === 'sqlite'
        ? { type: 'sqlite', path: config.registry.path }
        : {
            type: 'postgres',
            url: config.registry.url,
            ...(config.registry.schema ? { schema: config.registry.schema } : {}),
          },
    );
    const online = openOnlineStore(
      config.online_store.type === 'sqlite'
        ? { type: 'sqlite', path: config.online_store.path }
        : {
            type: 'redis',
            url: config.online_store.url,
            ...(config.online_store.key_prefix ? { keyPrefix: config.online_store.key_prefix } : {}),
          },
    );
    const offline = new DuckDbOfflineStore(
      {
        repoPath: config.repoPath,
        connections: Object.fromEntries(Object.entries(config.connections).map(([k, v]) => [k, v.url])),
      },
      {
        ...(config.offline_store.memory_limit ? { memoryLimit: config.offline_store.memory_limit } : {}),
        ...(config.offline_store.threads ? { threads: config.offline_store.threads } : {}),
      },
    );
    const store = new FeatureStore(
      config,
      offline,
      online,
      new Registry(registryStore, config.project),
      options,
    );
    await store.refresh();
    return store;
  }

  /** The registry state as last loaded (refreshed in the background every `registryRefreshMs`). */
  currentState(): RegistryState {
    if (!this.state) throw new TesseraError('registry not loaded', {}, 'BACKEND');
    const every = this.options.registryRefreshMs ?? 10_000;
    if (!this.refreshing && Date.now() - this.stateLoadedAt > every) {
      this.refreshing = this.refresh()
        .catch(() => undefined) // keep serving the last good state if the registry is unreachable
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.state;
  }

  /** Reloads the registry state now. */
  async refresh(): Promise<void> {
    const s = await this.registry.state();
    if (s.version !== this.stateVersion || !this.state) {
      this.state = s.state;
      this.stateVersion = s.version;
    }
    this.stateLoadedAt = Date.now();
  }

  /** The registry version currently served. */
  get version(): number {
    return this.stateVersion;
  }

  /** Loads the repo's definitions from disk and validates them (references, and schemas against the data). */
  async loadDefinitions(): Promise<LoadedRepo> {
    const repo = await loadRepo(this.config.repoPath);
    const errors = validateState(repo.state, repo.origins);
    if (errors.length === 0) {
      for (const view of [...repo.state.featureViews, ...repo.state.aggregationViews]) {
        const source = repo.state.sources.find((s) => s.name === view.source);
        if (!source) continue;
        try {
          const columns = await this.offline.describeSource(source);
          errors.push(...validateViewAgainstSource(repo.state, view, source, columns));
        } catch (e) {
          // The event lake of an aggregation view may not exist yet: the stream engine creates it.
          const emptyEventLake =
            (source.stream !== undefined || view.kind === 'AggregationView') &&
            e instanceof TesseraError &&
            e.code === 'NOT_FOUND';
          if (e instanceof TesseraError && !emptyEventLake) errors.push(e);
          else if (!emptyEventLake) throw e;
        }
      }
      errors.push(
        ...(await validateQualityDefinitions(
          repo.state,
          (s) => this.offline.describeSource(s),
          repo.origins,
        )),
      );
    }
    if (errors.length > 0)
      throw new TesseraAggregateError(`${errors.length} problem(s) in the definitions`, errors);
    return repo;
  }

  /** Compares the repo's definitions with the registry: what `apply` would change, and what would break. */
  async plan(): Promise<Awaited<ReturnType<Registry['plan']>>> {
    const repo = await this.loadDefinitions();
    return this.registry.plan(repo.state);
  }

  /**
   * Validates the repo's definitions and records them as a new registry version (atomically). Breaking changes
   * (a feature a service uses removed, a type changed) are refused unless `allowBreaking`. Online data of
   * removed views is deleted.
   */
  async apply(opts: { allowBreaking?: boolean; author?: string; message?: string } = {}) {
    const repo = await this.loadDefinitions();
    const plan = await this.registry.plan(repo.state);
    if (plan.breaking.length > 0 && !opts.allowBreaking) {
      throw new TesseraError(
        `refusing breaking change(s):\n${plan.breaking.map((b) => `  - ${b.message}`).join('\n')}`,
        { hint: 'pass --allow-breaking (allowBreaking: true) to apply anyway' },
        'CONFLICT',
      );
    }
    const result = await this.registry.apply(repo.state, {
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      ...(opts.message !== undefined ? { message: opts.message } : {}),
      expectedVersion: plan.baseVersion,
    });
    const before = this.state;
    for (const change of plan.changes) {
      if (change.kind === 'FeatureView' && change.change === 'removed' && before) {
        const v = before.featureViews.find((x) => x.name === change.name);
        if (v) await this.online.deleteView({ project: this.config.project, name: v.name, ttlMs: v.ttlMs });
      }
      if (change.kind === 'AggregationView' && change.change === 'removed') {
        await this.online.deleteView({ project: this.config.project, name: change.name, ttlMs: 0 });
      }
    }
    await this.refresh();
    return { plan, result };
  }

  /**
   * Builds a point-in-time-correct training set: the spine with feature columns appended (docs/semantics.md).
   * On-demand features are computed by the same functions serving uses.
   */
  async getHistoricalFeatures(request: {
    spine: SpineInput;
    features?: readonly (string | FeatureRef)[];
    featureService?: string;
    fullFeatureNames?: boolean;
    timestampColumn?: string;
    onProgress?: (p: { phase: string; done: number; total: number }) => void;
    /** Checks on the training set, besides the feature service's own (docs/semantics.md). */
    expectations?: readonly ExpectationInput[];
    /** Build the training set even when an `error` expectation fails. */
    force?: boolean;
    /** Called with each validation report (sources and views first, then the training set), pass or fail. */
    onValidation?: (report: ValidationReport) => void;
  }): Promise<TrainingSet> {
    await this.refresh();
    const state = this.currentState();
    const features = request.features?.map((f) => (typeof f === 'string' ? f : f.ref));
    const resolved = resolveFeatures(state, {
      ...(features ? { features } : {}),
      ...(request.featureService !== undefined ? { featureService: request.featureService } : {}),
    });
    const gate = {
      force: request.force ?? false,
      trigger: 'historical',
      skipStaleness: true,
      onReport: request.onValidation,
    };
    await this.quality.gate(
      state,
      [...resolved.views, ...resolved.aggregations].map((v) => v.view.name),
      gate,
    );
    const fullFeatureNames = request.fullFeatureNames ?? false;
    const result = await this.offline.getHistoricalFeatures({
      spine: request.spine,
      views: resolved.views,
      aggregations: resolved.aggregations,
      fullFeatureNames,
      ...(request.timestampColumn !== undefined ? { timestampColumn: request.timestampColumn } : {}),
      ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    });
    const transforms = new Map<string, (row: Readonly<Record<string, unknown>>) => Record<string, unknown>>();
    for (const od of resolved.onDemand)
      transforms.set(od.view.name, await loadTransform(this.config.repoPath, od.view));
    const training = new TrainingSet(result, resolved, fullFeatureNames, transforms, (rows, columns, path) =>
      this.offline.writeParquet(rows, columns, path),
    );
    const service = state.featureServices.find((s) => s.name === request.featureService);
    const checks = [...(service?.expectations ?? []), ...(request.expectations ?? [])];
    if (checks.length > 0) {
      // Checked where it lands: the training set written once to a scratch Parquet file, then scanned by SQL.
      const scratch = join(this.config.repoPath, '.tessera', 'tmp', `training-${randomUUID()}.parquet`);
      try {
        await training.writeParquet(scratch);
        await this.quality.gateTrainingSet(service?.name ?? 'training_set', checks, scratch, gate);
      } catch (e) {
        await training.close();
        throw e;
      } finally {
        await rm(scratch, { force: true });
      }
    }
    return training;
  }

  /**
   * Runs data-quality expectations now (all sources and feature views with expectations, or the one named),
   * over [start, end) when given, and records each run in the registry database.
   *
   * @example
   * const report = await store.validate({ source: 'orders', start: new Date('2024-05-01') });
   * if (!report.passed) console.log(report.runs[0]?.results.filter((r) => !r.passed));
   */
  async validate(request: ValidateRequest = {}): Promise<ValidationReport> {
    await this.refresh();
    return this.quality.validate(this.currentState(), request);
  }

  /** Loads the latest value per entity with event time in [start, end) into the online store. */
  async materialize(opts: {
    start: Date;
    end: Date;
    views?: readonly string[];
    onProgress?: (p: { view: string; rows: number; done: boolean }) => void;
    /** Load even when an `error` expectation of a view or its source fails on [start, end). */
    force?: boolean;
    /**
     * Set aside the rows of file sources failing a row-level `error` expectation of the source: written to a
     * Parquet file with `_reason` in this folder, while the other rows load.
     */
    quarantine?: string;
    /** Called with the validation report that gated the run, pass or fail (to print it). */
    onValidation?: (report: ValidationReport) => void;
  }): Promise<MaterializeReport[]> {
    await this.refresh();
    const state = this.currentState();
    const cleanCopyDir = join(this.config.repoPath, '.tessera', 'tmp', `clean-${randomUUID()}`);
    try {
      const gate = await this.quality.gate(
        state,
        selectViews(state, opts.views).map((s) => s.view.name),
        {
          start: opts.start,
          end: opts.end,
          force: opts.force ?? false,
          trigger: 'materialize',
          onReport: opts.onValidation,
          ...(opts.quarantine !== undefined ? { quarantineDir: opts.quarantine, cleanCopyDir } : {}),
        },
      );
      return await materialize({
        state: withQuarantinedSources(state, gate),
        offline: this.offline,
        online: this.online,
        startMs: opts.start.getTime(),
        endMs: opts.end.getTime(),
        chunkRows: this.config.materialization.chunk_rows,
        ...(opts.views ? { views: opts.views } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
    } finally {
      await rm(cleanCopyDir, { recursive: true, force: true });
    }
  }

  /**
   * Materializes each view from its bookmark (the end of its last run; for a first run, end − ttl, or the
   * beginning of time without ttl) up to `end`, then moves the bookmark to `end`.
   */
  async materializeIncremental(opts: {
    end: Date;
    views?: readonly string[];
    onProgress?: (p: { view: string; rows: number; done: boolean }) => void;
    force?: boolean;
    onValidation?: (report: ValidationReport) => void;
  }): Promise<MaterializeReport[]> {
    await this.refresh();
    const state = this.currentState();
    const endMs = opts.end.getTime();
    const reports: MaterializeReport[] = [];
    for (const selection of selectViews(state, opts.views)) {
      const bookmark = await this.registry.getBookmark(selection.view.name);
      const startMs = bookmark ?? firstRunStartMs(selection, endMs);
      if (startMs >= endMs) {
        reports.push({ view: selection.view.name, startMs, endMs, rows: 0, seconds: 0 });
        continue;
      }
      // Each view is checked on the range it is about to load; a failure stops before its bookmark moves.
      await this.quality.gate(state, [selection.view.name], {
        start: new Date(startMs),
        end: opts.end,
        force: opts.force ?? false,
        trigger: 'materialize-incremental',
        onReport: opts.onValidation,
      });
      reports.push(
        await materializeView(
          {
            state,
            offline: this.offline,
            online: this.online,
            chunkRows: this.config.materialization.chunk_rows,
            ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
          },
          selection,
          startMs,
          endMs,
        ),
      );
      await this.registry.setBookmark(selection.view.name, endMs);
    }
    return reports;
  }

  /**
   * Runs the stream engine for one source until `signal` aborts: consumes its Kafka topic in consumer group
   * `groupId` (default `<project>.<source>`), keeps the tiles of every online aggregation view over it current,
   * appends accepted events to the source's Parquet lake and refused ones to `dead-letters/<source>/`, exactly
   * once (docs/semantics.md, "Stream engine"). Returns the worker's counters.
   */
  async stream(opts: {
    source: string;
    signal: AbortSignal;
    groupId?: string;
    /** Static group membership id (see KafkaSourceOptions.instanceId). */
    instanceId?: string;
    /** Replay events from this Parquet file, folder or glob instead of consuming Kafka; ends when done. */
    replay?: string;
    batchSize?: number;
    onBatch?: (counters: StreamCounters) => void;
    /** Export the worker's metrics here (`tessera stream --metrics-port`; docs/monitoring.md). */
    metrics?: TesseraMetrics;
  }): Promise<StreamCounters> {
    await this.refresh();
    const { source, views } = this.streamedSource(opts.source);
    const groupId = opts.groupId ?? `${this.config.project}.${source.name}`;
    const records = await this.streamSourceFor(source, groupId, opts);
    const worker = await this.streamWorker(source, views, groupId, opts.instanceId);
    const uninstrument = opts.metrics
      ? instrumentStream(opts.metrics, {
          source: source.name,
          consumer: groupId,
          worker,
          records,
          online: this.online,
          state: () => this.currentState(),
        })
      : undefined;
    try {
      await records.consume(
        {
          assigned: (p) => worker.assigned(p),
          revoked: (p) => worker.revoked(p),
          batch: async (batch) => {
            await worker.batch(batch);
            opts.onBatch?.(worker.counters);
          },
        },
        opts.signal,
      );
    } finally {
      uninstrument?.();
      await records.close();
    }
    return worker.counters;
  }

  /**
   * Where a source's stream records come from: a Parquet replay when asked, else its Kafka topic. The Kafka
   * client is loaded here, when first needed: importing it costs ~0.8 s, which every other command (and a
   * `materialize` of a few thousand rows) would pay for nothing.
   */
  private async streamSourceFor(
    source: Source,
    groupId: string,
    opts: { replay?: string; batchSize?: number; instanceId?: string },
  ): Promise<StreamSource> {
    if (opts.replay !== undefined) {
      const path = resolve(this.config.repoPath, opts.replay);
      if (source.type === 'parquet' && resolve(this.config.repoPath, source.path) === path) {
        throw new TesseraError(`cannot replay source '${source.name}' from its own lake`, {
          field: 'replay',
          hint: 'its events are appended to that lake: replay from a copy, or materialize the view instead',
        });
      }
      return new ParquetReplaySource({
        path,
        timestampField: source.timestampField,
        name: `${source.name}:${basename(path)}`,
        ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      });
    }
    const { brokers, topic } = this.kafkaOf(source);
    const { KafkaSource } = await import('./stream/kafka/kafka-source.js');
    return new KafkaSource({
      brokers,
      topic,
      groupId,
      ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
      ...(opts.instanceId !== undefined ? { instanceId: opts.instanceId } : {}),
    });
  }

  /**
   * Compares online values with the offline recomputation at the same instant (now), for a sample of the
   * entities with recent events, for every online aggregation view (or the named ones): the check that the
   * stream and batch paths agree (docs/semantics.md). A score of 1 means every sampled value agrees.
   */
  async verifyConsistency(
    opts: { views?: readonly string[]; sample?: number; now?: Date } = {},
  ): Promise<ConsistencyReport> {
    await this.refresh();
    const state = this.currentState();
    const now = opts.now ?? new Date();
    const names = opts.views ?? state.aggregationViews.filter((v) => v.online).map((v) => v.name);
    const report: ConsistencyReport = { at: now.toISOString(), score: 1, compared: 0, views: [] };
    let agreed = 0;
    for (const name of names) {
      const selection = resolveFeatures(state, { features: [`${name}:*`] }).aggregations[0];
      if (selection === undefined) {
        throw new TesseraError(`'${name}' is not an aggregation view`, { field: 'views' }, 'NOT_FOUND');
      }
      const lookback = Math.max(
        ...selection.view.aggregations.flatMap((a) => a.windows.map((w) => w.ms + w.hopMs)),
      );
      const entities = await this.offline.sampleEntities(
        selection.source,
        selection.joinKeys,
        now.getTime() - lookback,
        opts.sample ?? 1000,
      );
      const mismatches: ConsistencyReport['views'][number]['mismatches'] = [];
      let compared = 0;
      if (entities.length > 0) {
        const online = await this.getOnlineFeatures({
          features: [`${name}:*`],
          entities,
          now,
          fullFeatureNames: false,
        });
        const training = await this.getHistoricalFeatures({
          spine: { kind: 'rows', rows: entities.map((e) => ({ ...e, event_timestamp: now })) },
          features: [`${name}:*`],
        });
        const offline = await training.rows();
        await training.close();
        entities.forEach((entity, i) => {
          for (const f of selection.view.features) {
            compared++;
            const o = online.rows[i]?.[f.name];
            const b = offline[i]?.[f.name];
            if (valuesAgree(o, b)) agreed++;
            else mismatches.push({ entity, feature: f.name, online: o, offline: b });
          }
        });
      }
      report.compared += compared;
      report.views.push({ view: name, entities: entities.length, compared, mismatches });
    }
    report.score = report.compared === 0 ? 1 : agreed / report.compared;
    return report;
  }

  /**
   * Skew from logs: recomputes the logged (entity, served_at) rows offline with the point-in-time retrieval and
   * compares with what online serving served (docs/feature-logging.md). Reads the log folder of tessera.yaml's
   * `feature_logging` (default `feature_logs`), whether or not logging is enabled in this process.
   *
   * @example
   * const report = await store.skewFromLogs({ start: new Date(Date.now() - 86_400_000), sample: 5000 });
   * report.features.filter((f) => f.matchRate < 1);
   */
  async skewFromLogs(opts: SkewOptions = {}): Promise<SkewReport> {
    await this.refresh();
    const dir = resolve(this.config.repoPath, this.config.feature_logging?.path ?? 'feature_logs');
    return skewFromLogs(
      this.currentState(),
      dir,
      (r) => this.getHistoricalFeatures({ ...r, fullFeatureNames: true }),
      opts,
    );
  }

  /** A stream worker for a source's views: checkpoints under `consumer`, lake append, dead letters in the repo. */
  private async streamWorker(
    source: Source,
    views: readonly AggregationSelection[],
    consumer: string,
    instanceId: string | undefined,
  ): Promise<StreamWorker> {
    return new StreamWorker({
      project: this.config.project,
      consumer,
      source,
      views,
      online: this.online,
      lake: {
        writer: this.offline,
        repoPath: this.config.repoPath,
        columns: await this.lakeColumns(source, views),
      },
      stagingDir: join(this.config.repoPath, '.tessera', 'stream', safeName(consumer)),
      deadLetterDir: this.deadLetterDir(source.name),
      ...(instanceId !== undefined ? { instanceId } : {}),
    });
  }

  /** A source and the online aggregation views over it: what the stream engine and the push API work on. */
  private streamedSource(name: string): { source: Source; views: AggregationSelection[] } {
    const state = this.currentState();
    const source = state.sources.find((s) => s.name === name);
    if (!source) {
      throw new TesseraError(
        `unknown source '${name}'`,
        { field: 'source', hint: `known sources: ${state.sources.map((s) => s.name).join(', ') || 'none'}` },
        'NOT_FOUND',
      );
    }
    const views = state.aggregationViews
      .filter((v) => v.source === source.name && v.online)
      .map(
        (v) => resolveFeatures(state, { features: [`${v.name}:*`] }).aggregations[0] as AggregationSelection,
      );
    return { source, views };
  }

  /** The Kafka brokers and topic a source streams from (its `stream` and the named connection). */
  private kafkaOf(source: Source): { brokers: string[]; topic: string } {
    if (source.stream === undefined) {
      throw new TesseraError(`source '${source.name}' has no stream`, {
        field: 'stream',
        hint: "give the source stream: { type: 'kafka', topic, connection } and a kafka:// connection in tessera.yaml, or replay Parquet with --replay",
      });
    }
    const url = this.config.connections[source.stream.connection]?.url;
    if (url === undefined || !url.startsWith('kafka://')) {
      throw new TesseraError(
        `connection '${source.stream.connection}' of source '${source.name}' is not a Kafka url`,
        {
          field: `connections.${source.stream.connection}`,
          expected: 'url: kafka://host:port[,host:port…]',
          ...(url !== undefined ? { actual: url } : {}),
        },
      );
    }
    return { brokers: url.slice('kafka://'.length).split(','), topic: source.stream.topic };
  }

  /** Column types of a source's lake: the existing files' when there are some, else from the definitions. */
  private async lakeColumns(source: Source, views: readonly AggregationSelection[]): Promise<SourceColumn[]> {
    try {
      return await this.offline.describeSource(source);
    } catch (e) {
      if (!(e instanceof TesseraError && e.code === 'NOT_FOUND')) throw e;
    }
    const columns = new Map<string, string>();
    for (const k of views[0]?.joinKeys ?? []) columns.set(k.name, duckType(k.type));
    columns.set(source.timestampField, 'TIMESTAMPTZ');
    for (const v of views) {
      for (const a of v.view.aggregations)
        if (a.column && a.inputType) columns.set(a.column, duckType(a.inputType));
      for (const c of v.view.where) if (!columns.has(c.column)) columns.set(c.column, 'VARCHAR');
    }
    return [...columns].map(([name, type]) => ({ name, type }));
  }

  /**
   * Reads online features (see OnlineFeaturesRequest): statuses per value, TTL enforced, transforms applied.
   * Rows are typed from typed references: `features: [userStats.refs.clicks_7d]` gives `row.clicks_7d: number | null`.
   */
  async getOnlineFeatures<const S extends readonly FeatureSelector[] = readonly string[]>(
    request: Omit<OnlineFeaturesRequest, 'features'> & { readonly features?: S },
  ): Promise<ServedResult & { readonly rows: readonly OnlineRowOf<S>[] }> {
    // The hot path (HTTP, string references) passes the request through untouched; only typed references are
    // turned into strings.
    const features = request.features;
    const plain = features === undefined || features.every((f) => typeof f === 'string');
    const req = plain ? (request as OnlineFeaturesRequest) : { ...request, features: selectorRefs(features) };
    const { result, log } = await this.serveOnline(req);
    log();
    return result as ServedResult & { readonly rows: readonly OnlineRowOf<S>[] };
  }

  /**
   * Serves a request (string references) like getOnlineFeatures, but leaves feature logging to the caller:
   * `log()` offers the request to the feature log (a no-op when logging is off). For callers that answer first
   * and log after, so the answer never waits for the log's packing: the HTTP server.
   */
  async serveOnline(request: OnlineFeaturesRequest): Promise<{ result: ServedResult; log: () => void }> {
    const logger = this.featureLogger;
    const servedAt = logger === undefined ? 0 : (request.now?.getTime() ?? Date.now());
    const state = this.state;
    const result = await this.serving.get(request);
    if (logger === undefined || state === undefined) return { result, log: noLog };
    return { result, log: () => logger.log(state, request, result, servedAt) };
  }

  /**
   * Reports every online read (`getOnlineFeatures`, the HTTP server) to `observer` from now on, once per
   * request; undefined stops. The server uses it for its metrics (src/metrics/serving-metrics.ts).
   */
  observeServing(observer: ServingObserver | undefined): void {
    this.serving.observe(observer);
  }

  /**
   * Freshness of every online view (docs/monitoring.md): the age of its newest online value and, for
   * aggregation views fed by a stream, the event-time lag of the stream from the checkpoints of consumer group
   * `consumers[source]` (default `<project>.<source>`, what `tessera stream` uses), each against the view's
   * `freshness` thresholds. `breached` is true when one is exceeded.
   *
   * @example
   * const report = await store.freshness();
   * for (const v of report.views) console.log(v.view, v.ageSeconds, v.breaches);
   */
  async freshness(
    opts: { now?: Date; consumers?: Readonly<Record<string, string>> } = {},
  ): Promise<FreshnessReport> {
    const state = this.currentState();
    const refs = [
      ...state.featureViews.filter((v) => v.online).map((v) => ({ name: v.name, ttlMs: v.ttlMs })),
      ...state.aggregationViews.filter((v) => v.online).map((v) => ({ name: v.name, ttlMs: 0 })),
    ].map((v) => ({ project: state.project, ...v }));
    const streamed = state.sources.filter(
      (s) => s.stream !== undefined && state.aggregationViews.some((v) => v.online && v.source === s.name),
    );
    const [fresh, streams] = await Promise.all([
      this.online.freshness(refs),
      Promise.all(
        streamed.map(async (s) => {
          const consumer = opts.consumers?.[s.name] ?? `${state.project}.${s.name}`;
          const checkpoints = await this.online.readCheckpoints(consumer);
          const partitions = new Map(
            [...checkpoints].map(([p, c]) => [p, { next: c.next, watermark: watermarkOf(c) }]),
          );
          return { source: s.name, consumer, partitions };
        }),
      ),
    ]);
    return evaluateFreshness(state, fresh, streams, (opts.now ?? new Date()).getTime());
  }

  /** Writes rows of a view to the online store (and/or appends them to its offline source). */
  async push(request: PushRequest): Promise<{ online: number; offline: number }> {
    const state = this.currentState();
    const { view, rows } = toOnlineRows(state, request.view, request.rows);
    const to = request.to ?? 'online';
    let offline = 0;
    if (to !== 'online') {
      const source = state.sources.find((s) => s.name === view.source);
      if (!source) throw new TesseraError(`view '${view.name}' has no source`, {}, 'NOT_FOUND');
      // Offline rows carry the validated values (timestamps as instants), in the source's own column names.
      const keys = joinKeysOf(state, view);
      const offlineRows = rows.map((r, i) => {
        const row: Record<string, unknown> = {};
        for (const k of keys) row[k.name] = (request.rows[i] as Record<string, unknown>)[k.name];
        row[source.timestampField] = new Date(r.eventTs);
        if (source.createdTimestampField)
          row[source.createdTimestampField] = r.createdTs ? new Date(r.createdTs) : null;
        for (const f of view.features) row[sourceColumn(f)] = r.values[f.name];
        return row;
      });
      offline = await this.offline.append(source, offlineRows, pushSchema(state, view.name));
    }
    if (to !== 'offline')
      await this.online.write({ project: state.project, name: view.name, ttlMs: view.ttlMs }, rows);
    return { online: to === 'offline' ? 0 : rows.length, offline };
  }

  /**
   * Starts the stream engine in this process over an in-process log, for the embedded default (no Kafka): events
   * given to `push` are checked, keyed by entity and aggregated by a worker running in the background, with the
   * same tiles, lake append and dead letters as `tessera stream`. The log lives in memory: events pushed but not
   * yet committed are lost if the process dies (use a Kafka stream for durability). `flush()` resolves once
   * everything pushed so far is committed.
   *
   * @example
   * const live = await store.startLocalStream({ source: 'events_source' });
   * live.push([{ user_id: 7, event_ts: new Date().toISOString(), event_type: 'click', item_id: 3, price: 9.5 }]);
   * await live.flush(); await live.stop();
   */
  async startLocalStream(opts: {
    source: string;
    partitions?: number;
    /** Export the worker's metrics here (docs/monitoring.md). */
    metrics?: TesseraMetrics;
  }): Promise<LocalStream> {
    await this.refresh();
    const { source, views } = this.streamedSource(opts.source);
    const schema = eventSchemaOf(source, views);
    const consumer = `${this.config.project}.${source.name}.local-${randomUUID().slice(0, 8)}`;
    const log = new MemoryLog(source.name, opts.partitions ?? 4);
    const worker = await this.streamWorker(source, views, consumer, consumer);
    const ac = new AbortController();
    const committed = () => this.online.readCheckpoints(consumer);
    const records = new MemoryLogSource(log, 2000);
    const uninstrument = opts.metrics
      ? instrumentStream(opts.metrics, {
          source: source.name,
          consumer,
          worker,
          records,
          online: this.online,
          state: () => this.currentState(),
        })
      : undefined;
    const running = records.consume(worker, ac.signal);
    running.catch(() => undefined);
    return {
      counters: worker.counters,
      push: (events) => {
        // All checked before any is appended: a bad event rejects the whole push.
        for (const m of keyedEvents(source.name, schema, events)) log.append(m.key, m.value);
      },
      flush: async () => {
        const ends = log.partitions.map((p) => p.length);
        for (;;) {
          const c = await committed();
          if (ends.every((end, i) => end === 0 || (c.get(`${source.name}/${i}`)?.next ?? 0) >= end)) return;
          await Promise.race([running, new Promise((r) => setTimeout(r, 5))]);
        }
      },
      stop: async () => {
        ac.abort();
        try {
          await running;
        } finally {
          uninstrument?.();
        }
      },
    };
  }

  /**
   * Sends events of a streamed source to its Kafka topic, for `tessera stream` to aggregate (the push API of
   * the stream engine). Every event is checked first, as the engine will decode it: one bad event fails the
   * call with its index, field and reason, and nothing is sent. Records are keyed by the entity key, so each
   * entity's events stay in one partition and in order.
   */
  async pushEvents(request: {
    source: string;
    events: readonly Readonly<Record<string, unknown>>[];
  }): Promise<{ sent: number }> {
    await this.refresh();
    const { source, views } = this.streamedSource(request.source);
    const schema = eventSchemaOf(source, views);
    const messages = keyedEvents(source.name, schema, request.events);
    const { brokers, topic } = this.kafkaOf(source);
    if (this.producer === undefined) {
      const { KafkaEventProducer } = await import('./stream/kafka/kafka-producer.js'); // see streamSourceFor
      this.producer = new KafkaEventProducer(brokers);
    }
    await this.producer.send(topic, messages);
    return { sent: messages.length };
  }

  /** Where the stream engine writes the dead letters of `source` (JSON lines, each with its reason). */
  deadLetterDir(source: string): string {
    return join(this.config.repoPath, 'dead-letters', source);
  }

  async close(): Promise<void> {
    await this.refreshing;
    // First, while nothing else is closed: what was sampled is written on a clean stop.
    await this.featureLogger?.close();
    await Promise.allSettled([
      this.offline.close(),
      this.online.close(),
      this.registry.close(),
      this.quality.close(),
      ...(this.producer ? [this.producer.close()] : []),
    ]);
  }
}

/**
 * Pushed events as stream records: each checked as the stream engine will decode it (the first bad one fails the
 * call, naming its index, field and reason) and keyed by its entity key.
 */
function keyedEvents(
  sourceName: string,
  schema: EventSchema,
  events: readonly Readonly<Record<string, unknown>>[],
): { key: string; value: string }[] {
  return events.map((event, i) => {
    const value = JSON.stringify(event);
    const decoded = decodeEvent(value, schema);
    if (!decoded.ok) {
      throw new TesseraError(`event ${i} of source '${sourceName}' is invalid: ${decoded.reason}`, {
        row: i,
        ...(decoded.field !== undefined ? { field: decoded.field } : {}),
      });
    }
    return { key: encodeEntityKey(schema.joinKeys, decoded.event.row), value };
  });
}

/** Columns (with DuckDB types) a pushed row of a view has in its source: keys, timestamps, features. */
function pushSchema(state: RegistryState, viewName: string): SourceColumn[] {
  const view = state.featureViews.find((v) => v.name === viewName);
  const source = state.sources.find((s) => s.name === view?.source);
  if (!view || !source) return [];
  return [
    ...joinKeysOf(state, view).map((k) => ({ name: k.name, type: duckType(k.type) })),
    { name: source.timestampField, type: 'TIMESTAMPTZ' },
    ...(source.createdTimestampField ? [{ name: source.createdTimestampField, type: 'TIMESTAMPTZ' }] : []),
    ...view.features.map((f) => ({ name: sourceColumn(f), type: duckType(f.type) })),
  ];
}
