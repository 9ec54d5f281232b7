import type { Command } from 'commander';
import pc from 'picocolors';
import { formatDuration } from '../../core/duration.js';
import { TesseraError } from '../../core/errors.js';
import { allDefinitions, serializeDefinition } from '../../definitions/definition.js';
import { FeatureStore } from '../../feature-store.js';
import { initRepo } from '../../repo/init-repo.js';
import { action, emit, type GlobalOptions, table } from '../output.js';
import { progress } from '../progress.js';

const open = (opts: GlobalOptions) => FeatureStore.open(opts.repo ?? '.');

/** `init`, `plan`, `apply`, `list`, `describe`, `registry history`, `lineage`. */
export function registerRepoCommands(program: Command): void {
  program
    .command('init')
    .description('create a feature repo with definitions and locally generated sample data')
    .argument('[dir]', 'directory to create', 'feature_repo')
    .option('--events <n>', 'sample events to generate', (v) => Number.parseInt(v, 10), 100_000)
    .option('--no-data', 'skip generating sample data')
    .action(
      action(async (dir: string, o: { events: number; data: boolean }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const bar = progress(!g.json);
        const summary = await initRepo(dir, {
          events: o.events,
          data: o.data,
          onProgress: (done, total) => bar.update('generating', done, total),
        });
        bar.stop();
        emit(g, summary, () =>
          [
            `${pc.green('created')} feature repo in ${summary.path}`,
            ...summary.files.map((f) => `  ${f}`),
            '',
            `next: cd ${dir} && tessera apply && tessera materialize-incremental --end now`,
          ].join('\n'),
        );
      }),
    );

  program
    .command('plan')
    .description('show what apply would change in the registry, and what would break')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const plan = await store.plan();
          emit(g, plan, () => renderPlan(plan));
        } finally {
          await store.close();
        }
      }),
    );

  program
    .command('apply')
    .description('validate the definitions and record them as a new registry version')
    .option('--allow-breaking', 'apply even when the change breaks a feature service or changes a type')
    .option('-m, --message <text>', 'a note recorded with the version', '')
    .action(
      action(async (o: { allowBreaking?: boolean; message: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const { plan, result } = await store.apply({
            allowBreaking: o.allowBreaking === true,
            message: o.message,
            author: process.env['USER'] ?? 'unknown',
          });
          emit(g, { plan, result }, () => {
            if (!result.created) return `no changes; registry stays at version ${plan.baseVersion}`;
            return `${renderPlan(plan)}\n${pc.green('applied')}: registry version ${result.version}`;
          });
        } finally {
          await store.close();
        }
      }),
    );

  program
    .command('list')
    .description('list registered definitions')
    .argument('[kind]', 'entities | sources | views | aggregations | on-demand | services (default: all)')
    .action(
      action(async (kind: string | undefined, _o: unknown, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const state = store.currentState();
          // `views` lists feature and aggregation views (both are read as view:feature); `aggregations` only the latter.
          const kinds: Record<string, readonly string[]> = {
            entities: ['Entity'],
            sources: ['Source'],
            views: ['FeatureView', 'AggregationView'],
            aggregations: ['AggregationView'],
            'on-demand': ['OnDemandFeatureView'],
            services: ['FeatureService'],
          };
          if (kind !== undefined && !(kind in kinds)) {
            throw new TesseraError(`unknown kind '${kind}'`, {
              field: 'kind',
              expected: Object.keys(kinds).join(', '),
            });
          }
          const defs = allDefinitions(state)
            .filter((d) => kind === undefined || kinds[kind]?.includes(d.kind))
            .sort((a, b) => (kind === undefined ? 0 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
          const rows = defs.map((d) => ({
            kind: d.kind,
            name: d.name,
            owner: d.owner,
            detail: summarize(d),
            description: d.description,
          }));
          emit(g, { registryVersion: store.version, definitions: rows }, () =>
            rows.length === 0
              ? 'nothing registered yet: run tessera apply'
              : table(
                  ['KIND', 'NAME', 'OWNER', 'DETAIL'],
                  rows.map((r) => [r.kind, r.name, r.owner, r.detail]),
                ),
          );
        } finally {
          await store.close();
        }
      }),
    );

  program
    .command('describe')
    .description('show one definition with its version and lineage')
    .argument('<name>', 'name of an entity, source, view, on-demand view or service')
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const { state, objectVersions } = await store.registry.state();
          const matches = allDefinitions(state).filter((d) => d.name === name);
          if (matches.length === 0)
            throw new TesseraError(
              `nothing named '${name}' is registered`,
              { hint: 'tessera list shows what is' },
              'NOT_FOUND',
            );
          const out = await Promise.all(
            matches.map(async (d) => ({
              ...serializeDefinition(d),
              version: objectVersions[`${d.kind}/${d.name}`] ?? 1,
              lineage: await store.registry.lineageOf(d.kind, d.name, 'both'),
            })),
          );
          emit(g, out.length === 1 ? out[0] : out, () =>
            out.map((o) => JSON.stringify(o, null, 2)).join('\n'),
          );
        } finally {
          await store.close();
        }
      }),
    );

  const registry = program.command('registry').description('registry versions');
  registry
    .command('history')
    .description('list registry versions, newest first')
    .option('-n, --limit <n>', 'how many', (v) => Number.parseInt(v, 10), 20)
    .action(
      action(async (o: { limit: number }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const versions = await store.registry.history(o.limit);
          emit(g, versions, () =>
            table(
              ['VERSION', 'APPLIED', 'AUTHOR', 'CHANGES', 'MESSAGE'],
              versions.map((v) => [
                v.version,
                v.appliedAt.toISOString(),
                v.author,
                summarizeChanges(v.changes),
                v.message,
              ]),
            ),
          );
        } finally {
          await store.close();
        }
      }),
    );

  program
    .command('lineage')
    .description('show what a definition depends on and what depends on it')
    .argument('<name>')
    .option('--direction <d>', 'upstream | downstream | both', 'both')
    .action(
      action(async (name: string, o: { direction: 'upstream' | 'downstream' | 'both' }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await open(g);
        try {
          const state = store.currentState();
          const def = allDefinitions(state).find((d) => d.name === name);
          if (!def) throw new TesseraError(`nothing named '${name}' is registered`, {}, 'NOT_FOUND');
          const graph = await store.registry.lineageOf(def.kind, def.name, o.direction);
          emit(g, graph, () =>
            graph.edges.length === 0
              ? `${def.kind} ${def.name} has no lineage edges`
              : graph.edges.map((e) => `${e.from} → ${e.to} (${e.relation})`).join('\n'),
          );
        } finally {
          await store.close();
        }
      }),
    );
}

/** `3 added, 1 changed (user_stats)`: short enough for one table row; --json has every change. */
function summarizeChanges(changes: readonly { change: string; name: string }[]): string {
  const by = new Map<string, string[]>();
  for (const c of changes) by.set(c.change, [...(by.get(c.change) ?? []), c.name]);
  return [...by]
    .map(([change, names]) => `${names.length} ${change}${names.length <= 2 ? ` (${names.join(', ')})` : ''}`)
    .join(', ');
}

function summarize(d: ReturnType<typeof allDefinitions>[number]): string {
  switch (d.kind) {
    case 'Entity':
      return d.joinKeys.map((k) => `${k.name}:${k.type}`).join(', ');
    case 'Source':
      return d.type === 'postgres' ? `postgres ${d.table ?? 'query'}` : `${d.type} ${d.path}`;
    case 'FeatureView':
      return `${d.features.length} features, entities ${d.entities.join('+')}, ${d.ttlMs > 0 ? `ttl ${formatDuration(d.ttlMs)}` : 'no ttl'}${d.online ? '' : ', offline only'}`;
    case 'AggregationView':
      return `${d.features.length} features (${d.aggregations.length} aggregations), entities ${d.entities.join('+')}${d.online ? '' : ', offline only'}`;
    case 'OnDemandFeatureView':
      return `${d.features.length} features from ${d.inputs.join(', ') || 'request'}`;
    case 'FeatureService':
      return `${d.features.length} selections`;
  }
}

interface PlanLike {
  baseVersion: number;
  changes: readonly { kind: string; name: string; change: string; details?: readonly string[] }[];
  breaking: readonly { message: string }[];
}

function renderPlan(plan: PlanLike): string {
  const sign: Record<string, string> = {
    added: pc.green('+'),
    removed: pc.red('-'),
    changed: pc.yellow('~'),
  };
  const lines = plan.changes
    .filter((c) => c.change !== 'unchanged')
    .flatMap((c) => [
      `${sign[c.change] ?? ' '} ${c.kind} ${c.name}`,
      ...(c.details ?? []).map((d) => `    ${d}`),
    ]);
  if (lines.length === 0) return `no changes (registry version ${plan.baseVersion})`;
  const out = [`changes against registry version ${plan.baseVersion}:`, ...lines];
  if (plan.breaking.length > 0) {
    out.push(
      pc.red(`${plan.breaking.length} breaking change(s):`),
      ...plan.breaking.map((b) => `  ${pc.red('!')} ${b.message}`),
    );
  }
  return out.join('\n');
}
