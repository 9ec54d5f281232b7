import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { TesseraError } from '../core/errors.js';
import { firstIssue, parseYaml, yamlLine } from '../core/yaml.js';

/** Name of the config file at the root of a feature repo. */
export const CONFIG_FILE = 'tessera.yaml';

const registrySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sqlite'), path: z.string().default('.tessera/registry.db') }).strict(),
  z.object({ type: z.literal('postgres'), url: z.string(), schema: z.string().optional() }).strict(),
]);
const onlineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('sqlite'), path: z.string().default('.tessera/online.db') }).strict(),
  z.object({ type: z.literal('redis'), url: z.string(), key_prefix: z.string().optional() }).strict(),
]);
const offlineSchema = z
  .object({
    type: z.literal('duckdb').default('duckdb'),
    memory_limit: z.string().optional(),
    threads: z.number().int().positive().optional(),
  })
  .strict();

/** Sample rate of feature logging: the share of online requests whose served values are logged. */
const sampleRate = z.number().min(0).max(1);

/**
 * `feature_logging`: what the online serving path logs to the lake (docs/feature-logging.md). Off by default.
 * `services` overrides the sample rate per feature service (e.g. log every request of one model).
 */
const featureLoggingSchema = z
  .object({
    enabled: z.boolean().default(true),
    sample_rate: sampleRate.default(0.1),
    /** Folder of the log files, relative to the repo. */
    path: z.string().min(1).default('feature_logs'),
    /** Entity rows held in memory, waiting or being written, at most; further rows are dropped and counted. */
    queue_size: z.number().int().positive().default(10_000),
    /** How often queued rows are written (a duration: '1s', '500ms'). */
    flush_interval: z
      .string()
      .refine((d) => {
        try {
          return parseDuration(d, 'flush_interval') > 0;
        } catch {
          return false;
        }
      }, "a duration such as '1s' or '500ms'")
      .default('1s'),
    /** Rows per Parquet file, at most; a flush starts as soon as this many are queued. */
    max_file_rows: z.number().int().positive().default(100_000),
    /**
     * CPU priority of the log's thread (Linux): `idle` runs only on otherwise idle CPU time, `low` at nice 19,
     * `normal` as serving. See docs/feature-logging.md.
     */
    thread_priority: z.enum(['idle', 'low', 'normal']).default('low'),
    services: z.record(z.string(), z.object({ sample_rate: sampleRate }).strict()).default({}),
  })
  .strict();

const servingDefaults = {
  fallbacks: {},
  api_keys: [],
  max_entities_per_request: 10_000,
  body_limit_bytes: 5 * 1024 * 1024,
};

const configSchema = z
  .object({
    project: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and underscores'),
    registry: registrySchema.default({ type: 'sqlite', path: '.tessera/registry.db' }),
    online_store: onlineSchema.default({ type: 'sqlite', path: '.tessera/online.db' }),
    offline_store: offlineSchema.default({ type: 'duckdb' }),
    /** Definition files (TypeScript or YAML), relative to the repo; `*` globs allowed. */
    definitions: z.array(z.string()).min(1).default(['features.ts']),
    connections: z.record(z.string(), z.object({ url: z.string() }).strict()).default({}),
    serving: z
      .object({
        deadline_ms: z.number().positive().optional(),
        /** Fallback values per `view:feature`, served when a value is missing, too old, or late. */
        fallbacks: z.record(z.string(), z.unknown()).default({}),
        /** API keys accepted by `tessera serve`; empty = authentication off. */
        api_keys: z.array(z.string()).default([]),
        max_entities_per_request: z.number().int().positive().default(10_000),
        body_limit_bytes: z
          .number()
          .int()
          .positive()
          .default(5 * 1024 * 1024),
      })
      .strict()
      .default(servingDefaults),
    materialization: z
      .object({ chunk_rows: z.number().int().positive().default(50_000) })
      .strict()
      .default({ chunk_rows: 50_000 }),
    feature_logging: featureLoggingSchema.optional(),
  })
  .strict();

/** The `feature_logging` section of tessera.yaml, defaults applied. */
export type FeatureLoggingConfig = z.infer<typeof featureLoggingSchema>;

export type RawRepoConfig = z.infer<typeof configSchema>;

/** A loaded repo config with paths made absolute. */
export type RepoConfig = RawRepoConfig & {
  /** Absolute path of the feature repo root (the folder holding tessera.yaml). */
  readonly repoPath: string;
  readonly configFile: string;
};

/**
 * Loads `tessera.yaml`. `${VAR}` and `${VAR:-default}` in string values are read from the environment, so
 * secrets (database URLs, API keys) stay out of the file.
 *
 * @example const config = loadRepoConfig('./my_repo');
 */
export function loadRepoConfig(repoDir: string): RepoConfig {
  const configFile = resolve(repoDir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch {
    throw new TesseraError(
      'no feature repo here',
      { file: configFile, hint: "run 'tessera init <dir>' to create one, or pass --repo <dir>" },
      'INVALID_CONFIG',
    );
  }
  return parseRepoConfig(text, configFile);
}

/** Parses config text; `configFile` locates the repo and names the file in errors. */
export function parseRepoConfig(text: string, configFile: string): RepoConfig {
  const doc = parseYaml(text, configFile, 'INVALID_CONFIG');
  const raw = interpolateEnv(doc.toJS(), configFile);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = firstIssue(parsed.error.issues as Parameters<typeof firstIssue>[0]);
    const row = yamlLine(doc, text, issue.path);
    throw new TesseraError(
      `invalid config: ${issue.message}`,
      { file: configFile, field: issue.path.join('.'), ...(row !== undefined ? { row } : {}) },
      'INVALID_CONFIG',
    );
  }
  const repoPath = dirname(resolve(configFile));
  const cfg = parsed.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(repoPath, p));
  return {
    ...cfg,
    registry:
      cfg.registry.type === 'sqlite' ? { ...cfg.registry, path: abs(cfg.registry.path) } : cfg.registry,
    online_store:
      cfg.online_store.type === 'sqlite'
        ? { ...cfg.online_store, path: abs(cfg.online_store.path) }
        : cfg.online_store,
    repoPath,
    configFile: resolve(configFile),
  };
}

function interpolateEnv(v: unknown, file: string): unknown {
  if (typeof v === 'string') {
    return v.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_m, name: string, def: string | undefined) => {
        const value = process.env[name] ?? def;
        if (value === undefined) {
          throw new TesseraError(
            `environment variable ${name} is not set`,
            { file, hint: `export ${name}=… or give a default with \${${name}:-value}` },
            'INVALID_CONFIG',
          );
        }
        return value;
      },
    );
  }
  if (Array.isArray(v)) return v.map((x) => interpolateEnv(x, file));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateEnv(x, file)]));
  }
  return v;
}
