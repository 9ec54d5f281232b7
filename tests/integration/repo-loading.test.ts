import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serializeState } from '../../src/definitions/definition.js';
import { loadRepo, loadTransform } from '../../src/repo/load-repo.js';
import { loadYamlDefinitions } from '../../src/repo/yaml-definitions.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/ecommerce');
const dirs: string[] = [];
function repoWith(config: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-repo-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'tessera.yaml'), config);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('loading a feature repo', () => {
  it('reads the TypeScript and the YAML form of the example into the same registry state', async () => {
    const ts = await loadRepo(EXAMPLE);
    const yamlDir = mkdtempSync(join(tmpdir(), 'tessera-yaml-'));
    dirs.push(yamlDir);
    cpSync(join(EXAMPLE, 'yaml/features.yaml'), join(yamlDir, 'features.yaml'));
    cpSync(join(EXAMPLE, 'transforms.ts'), join(yamlDir, 'transforms.ts'));
    writeFileSync(join(yamlDir, 'tessera.yaml'), 'project: ecommerce\ndefinitions: [features.yaml]\n');
    const yaml = await loadRepo(yamlDir);
    expect(serializeState(yaml.state)).toEqual(serializeState(ts.state));
    expect(ts.state.featureViews.map((v) => v.name)).toEqual(['item_stats', 'user_profile', 'user_stats']);

    // Both forms run the very same transform function.
    const od = yaml.state.onDemandFeatureViews[0]!;
    const { transform: _fn, ...withoutFn } = ts.state.onDemandFeatureViews[0]!;
    const fromYaml = await loadTransform(yamlDir, od);
    const fromTs = await loadTransform(EXAMPLE, withoutFn);
    const input = { candidate_price: 90, avg_order_value: 45 };
    expect(fromYaml(input)).toEqual({ price_ratio: 2, is_premium_price: true });
    expect(fromTs(input)).toEqual(fromYaml(input));
  });

  it("records the module and export of on-demand transforms defined in TypeScript, and resolves 'tessera'", async () => {
    const dir = repoWith('project: p\n', {
      'features.ts': `import { entity, float64, int64, onDemandFeatureView } from 'tessera';
export const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
export const doubled = onDemandFeatureView({
  name: 'doubled', request: { x: float64() }, schema: { y: float64() },
  transform: (r) => ({ y: (r.x as number) * 2 }),
});`,
    });
    const repo = await loadRepo(dir);
    const od = repo.state.onDemandFeatureViews[0]!;
    expect(od.transformRef).toEqual({ module: 'features.ts', export: 'doubled' });
    const { transform: _fn, ...stored } = od;
    expect((await loadTransform(dir, stored))({ x: 4 })).toEqual({ y: 8 });
    expect(repo.origins.get('Entity/user')).toBe('features.ts');
  });

  it('rejects a definition defined twice, naming both files', async () => {
    const def = 'entities:\n  - name: user\n    join_keys: { user_id: int64 }\n';
    const dir = repoWith('project: p\ndefinitions: [a.yaml, b.yaml]\n', { 'a.yaml': def, 'b.yaml': def });
    await expect(loadRepo(dir)).rejects.toThrow(
      /b\.yaml, field 'name': duplicate Entity 'user'.*also defined in a\.yaml/,
    );
  });

  it('expands * globs in the definitions list', async () => {
    const dir = repoWith('project: p\ndefinitions: ["*.yaml"]\n', {
      'a.yaml': 'entities:\n  - name: a\n    join_keys: { id: int64 }\n',
      'b.yaml': 'entities:\n  - name: b\n    join_keys: { id: string }\n',
    });
    expect((await loadRepo(dir)).state.entities.map((e) => e.name)).toEqual(['a', 'b']);
  });

  it('names a missing definition file', async () => {
    const dir = repoWith('project: p\ndefinitions: [nope.ts]\n');
    await expect(loadRepo(dir)).rejects.toThrow(/nope\.ts, field 'definitions': definition file not found/);
  });
});

describe('YAML definitions errors', () => {
  it('names file, line and field for a bad type', () => {
    const text =
      'feature_views:\n  - name: v\n    entities: [user]\n    source: s\n    schema:\n      clicks: integer\n';
    expect(() => loadYamlDefinitions(text, 'features.yaml')).toThrow(
      /features\.yaml, row 6, field 'feature_views\.0\.schema\.clicks': unknown type 'integer'; expected one of int32, int64/,
    );
  });

  it('names the line of an unknown property and of a bad duration', () => {
    expect(() =>
      loadYamlDefinitions('entities:\n  - name: u\n    joinkeys: { id: int64 }\n', 'f.yaml'),
    ).toThrow(/f\.yaml, row 3, field 'entities\.0\.joinkeys': invalid definition: unknown key 'joinkeys'/);
    const ttl =
      'feature_views:\n  - name: v\n    entities: [u]\n    source: s\n    ttl: 3 days\n    schema: { a: int64 }\n';
    expect(() => loadYamlDefinitions(ttl, 'f.yaml')).toThrow(
      /f\.yaml, row 2, field 'feature_views\.0\.ttl'.*invalid duration '3 days'/,
    );
  });

  it('names the line of a YAML syntax error', () => {
    expect(() => loadYamlDefinitions('entities:\n  - name: [u\n', 'f.yaml')).toThrow(
      /f\.yaml, row \d+: invalid YAML/,
    );
  });
});
