import type { Document } from 'yaml';
import { z } from 'zod';
import { TesseraError } from '../core/errors.js';
import { firstIssue, parseYaml, yamlLine } from '../core/yaml.js';
import {
  type AggregationFunction,
  aggregationView,
  type RowCondition,
} from '../definitions/aggregation-view.js';
import type { Definition } from '../definitions/definition.js';
import { entity } from '../definitions/entity.js';
import { featureService } from '../definitions/feature-service.js';
import { featureView } from '../definitions/feature-view.js';
import type { FreshnessInput } from '../definitions/freshness.js';
import { onDemandFeatureView } from '../definitions/on-demand-feature-view.js';
import { csvSource, parquetSource, postgresSource } from '../definitions/source.js';
import { type FieldType, parseValueType, type ScalarType } from '../definitions/value-types.js';
import type { ExpectationInput } from '../quality/expectations.js';

const meta = {
  description: z.string().optional(),
  owner: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
};
const typeMap = z.record(z.string(), z.string());
const scalar = z.union([z.string(), z.number(), z.boolean()]);
/** Checked by the builders (normalizeExpectations), which name the entry and field at fault. */
const expectations = { expectations: z.array(z.unknown()).optional() };
/** `freshness: { max_age: '10m', max_lag: '1m' }` of a view (docs/monitoring.md). */
const freshnessShape = z
  .object({ max_age: z.string().optional(), max_lag: z.string().optional() })
  .strict()
  .optional();

/** The builder input of a YAML `freshness` block. */
const freshnessOf = (f: z.infer<typeof freshnessShape>): { freshness?: FreshnessInput } =>
  f === undefined
    ? {}
    : {
        freshness: {
          ...(f.max_age !== undefined ? { maxAge: f.max_age } : {}),
          ...(f.max_lag !== undefined ? { maxLag: f.max_lag } : {}),
        },
      };

const fileSchema = z
  .object({
    entities: z.array(z.object({ name: z.string(), join_keys: typeMap, ...meta }).strict()).default([]),
    sources: z
      .array(
        z
          .object({
            name: z.string(),
            type: z.enum(['parquet', 'csv', 'postgres']),
            path: z.string().optional(),
            delimiter: z.string().optional(),
            table: z.string().optional(),
            query: z.string().optional(),
            connection: z.string().optional(),
            timestamp_field: z.string(),
            created_timestamp_field: z.string().optional(),
            stream: z
              .object({
                type: z.literal('kafka').optional(),
                topic: z.string(),
                connection: z.string().optional(),
              })
              .strict()
              .optional(),
            ...expectations,
            ...meta,
          })
          .strict(),
      )
      .default([]),
    feature_views: z
      .array(
        z
          .object({
            name: z.string(),
            entities: z.array(z.string()),
            source: z.string(),
            schema: typeMap,
            columns: z.record(z.string(), z.string()).optional(),
            ttl: z.union([z.string(), z.literal(0)]).optional(),
            online: z.boolean().optional(),
            offline: z.boolean().optional(),
            ...expectations,
            freshness: freshnessShape,
            monitoring: z
              .object({
                psi: z.number().optional(),
                ks: z.number().optional(),
                null_rate: z.number().optional(),
              })
              .strict()
              .optional(),
            ...meta,
          })
          .strict(),
      )
      .default([]),
    aggregation_views: z
      .array(
        z
          .object({
            name: z.string(),
            entities: z.array(z.string()),
            source: z.string(),
            aggregations: z.record(
              z.string(),
              z
                .object({
                  fn: z.string(),
                  column: z.string().optional(),
                  type: z.string().optional(),
                  windows: z.array(z.string()),
                  k: z.number().int().optional(),
                  max_distinct: z.number().int().optional(),
                })
                .strict(),
            ),
            hops: z.record(z.string(), z.string()).optional(),
            where: z
              .array(
                z
                  .object({
                    column: z.string(),
                    op: z.string(),
                    value: z.union([scalar, z.array(scalar)]).optional(),
                  })
                  .strict(),
              )
              .optional(),
            allowed_lateness: z.union([z.string(), z.literal(0)]).optional(),
            online: z.boolean().optional(),
            offline: z.boolean().optional(),
            freshness: freshnessShape,
            ...meta,
          })
          .strict(),
      )
      .default([]),
    on_demand_feature_views: z
      .array(
        z
          .object({
            name: z.string(),
            request: typeMap.optional(),
            inputs: z.array(z.string()).optional(),
            schema: typeMap,
            transform: z.object({ module: z.string(), export: z.string() }).strict(),
            ...meta,
          })
          .strict(),
      )
      .default([]),
    feature_services: z
      .array(z.object({ name: z.string(), features: z.array(z.string()), ...expectations, ...meta }).strict())
      .default([]),
  })
  .strict();

type FileShape = z.infer<typeof fileSchema>;

/**
 * Reads definitions written in YAML. Each entry goes through the same builder as its TypeScript form, so
 * both mean exactly the same thing; errors name the file, line and field.
 *
 * @example loadYamlDefinitions(readFileSync('features.yaml', 'utf8'), 'features.yaml')
 */
export function loadYamlDefinitions(text: string, file: string): Definition[] {
  const doc = parseYaml(text, file);
  const parsed = fileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = firstIssue(parsed.error.issues as Parameters<typeof firstIssue>[0]);
    const row = yamlLine(doc, text, issue.path);
    throw new TesseraError(
      `invalid definition: ${issue.message}`,
      { file, field: issue.path.join('.'), ...(row !== undefined ? { row } : {}) },
      'INVALID_DEFINITION',
    );
  }
  return buildAll(parsed.data, doc, text, file);
}

function buildAll(f: FileShape, doc: Document, text: string, file: string): Definition[] {
  const out: Definition[] = [];
  // Builders throw TesseraErrors without a location; attach the file and line of the entry at fault.
  const at = <T>(path: (string | number)[], build: () => T): T => {
    try {
      return build();
    } catch (e) {
      if (!(e instanceof TesseraError)) throw e;
      // An error inside a list entry (expectations.2) points at that entry's line, not the definition's.
      const inner = /^expectations\.(\d+)/.exec(e.location.field ?? '');
      const row = yamlLine(doc, text, inner ? [...path, 'expectations', Number(inner[1])] : path);
      throw e.at({ file, field: path.join('.'), ...(row !== undefined ? { row } : {}) });
    }
  };
  const types = (m: Record<string, string>, path: (string | number)[]): Record<string, FieldType> =>
    Object.fromEntries(
      Object.entries(m).map(([name, t]) => [
        name,
        at([...path, name], () => ({ kind: 'FieldType', type: parseValueType(t) }) as FieldType),
      ]),
    );
  const metaOf = (x: {
    description?: string | undefined;
    owner?: string | undefined;
    tags?: Record<string, string> | undefined;
    expectations?: unknown[] | undefined;
  }) => ({
    ...(x.expectations !== undefined ? { expectations: x.expectations as ExpectationInput[] } : {}),
    ...(x.description !== undefined ? { description: x.description } : {}),
    ...(x.owner !== undefined ? { owner: x.owner } : {}),
    ...(x.tags !== undefined ? { tags: x.tags } : {}),
  });

  f.entities.forEach((e, i) => {
    const path = ['entities', i];
    const joinKeys = types(e.join_keys, [...path, 'join_keys']) as Record<string, FieldType<ScalarType>>;
    out.push(at(path, () => entity({ name: e.name, joinKeys, ...metaOf(e) })));
  });
  f.sources.forEach((s, i) => {
    const base = {
      name: s.name,
      timestampField: s.timestamp_field,
      ...(s.created_timestamp_field !== undefined
        ? { createdTimestampField: s.created_timestamp_field }
        : {}),
      ...(s.stream !== undefined
        ? {
            stream: {
              topic: s.stream.topic,
              ...(s.stream.type !== undefined ? { type: s.stream.type } : {}),
              ...(s.stream.connection !== undefined ? { connection: s.stream.connection } : {}),
            },
          }
        : {}),
      ...metaOf(s),
    };
    out.push(
      at(['sources', i], () => {
        switch (s.type) {
          case 'parquet':
            return parquetSource({ ...base, path: s.path ?? '' });
          case 'csv':
            return csvSource({
              ...base,
              path: s.path ?? '',
              ...(s.delimiter !== undefined ? { delimiter: s.delimiter } : {}),
            });
          case 'postgres':
            return postgresSource({
              ...base,
              ...(s.table !== undefined ? { table: s.table } : {}),
              ...(s.query !== undefined ? { query: s.query } : {}),
              ...(s.connection !== undefined ? { connection: s.connection } : {}),
            });
        }
      }),
    );
  });
  f.feature_views.forEach((v, i) => {
    const path = ['feature_views', i];
    const schema = types(v.schema, [...path, 'schema']);
    out.push(
      at(path, () =>
        featureView({
          name: v.name,
          entities: v.entities,
          source: v.source,
          schema,
          ...(v.columns !== undefined ? { columns: v.columns } : {}),
          ...(v.ttl !== undefined ? { ttl: v.ttl } : {}),
          ...(v.online !== undefined ? { online: v.online } : {}),
          ...(v.offline !== undefined ? { offline: v.offline } : {}),
          ...freshnessOf(v.freshness),
          ...(v.monitoring !== undefined
            ? {
                monitoring: {
                  ...(v.monitoring.psi !== undefined ? { psi: v.monitoring.psi } : {}),
                  ...(v.monitoring.ks !== undefined ? { ks: v.monitoring.ks } : {}),
                  ...(v.monitoring.null_rate !== undefined ? { nullRate: v.monitoring.null_rate } : {}),
                },
              }
            : {}),
          ...metaOf(v),
        }),
      ),
    );
  });
  f.aggregation_views.forEach((v, i) => {
    const path = ['aggregation_views', i];
    const aggregations = Object.fromEntries(
      Object.entries(v.aggregations).map(([name, a]) => {
        const type =
          a.type === undefined
            ? undefined
            : at([...path, 'aggregations', name, 'type'], () => ({
                kind: 'FieldType',
                type: parseValueType(a.type as string),
              }));
        return [
          name,
          {
            fn: a.fn as AggregationFunction,
            windows: a.windows,
            ...(a.column !== undefined ? { column: a.column } : {}),
            ...(type !== undefined ? { type: type as FieldType<ScalarType> } : {}),
            ...(a.k !== undefined ? { k: a.k } : {}),
            ...(a.max_distinct !== undefined ? { maxDistinct: a.max_distinct } : {}),
          },
        ];
      }),
    );
    out.push(
      at(path, () =>
        aggregationView({
          name: v.name,
          entities: v.entities,
          source: v.source,
          aggregations,
          ...(v.hops !== undefined ? { hops: v.hops } : {}),
          ...(v.where !== undefined ? { where: v.where as RowCondition[] } : {}),
          ...(v.allowed_lateness !== undefined ? { allowedLateness: v.allowed_lateness } : {}),
          ...(v.online !== undefined ? { online: v.online } : {}),
          ...(v.offline !== undefined ? { offline: v.offline } : {}),
          ...freshnessOf(v.freshness),
          ...metaOf(v),
        }),
      ),
    );
  });
  f.on_demand_feature_views.forEach((v, i) => {
    const path = ['on_demand_feature_views', i];
    const schema = types(v.schema, [...path, 'schema']);
    const request = v.request ? types(v.request, [...path, 'request']) : {};
    out.push(
      at(path, () =>
        onDemandFeatureView({
          name: v.name,
          request,
          inputs: v.inputs ?? [],
          schema,
          transformRef: v.transform,
          ...metaOf(v),
        }),
      ),
    );
  });
  f.feature_services.forEach((s, i) => {
    out.push(
      at(['feature_services', i], () => featureService({ name: s.name, features: s.features, ...metaOf(s) })),
    );
  });
  return out;
}
