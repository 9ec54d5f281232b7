import { definitionError } from '../core/errors.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';
import type { FieldType, ScalarType } from './value-types.js';

/** One typed join key of an entity. Join keys are scalars; lists cannot identify an entity. */
export interface JoinKey {
  readonly name: string;
  readonly type: ScalarType;
}

/** A business object features describe (a user, a card, a (user, merchant) pair). */
export interface Entity extends CommonMeta {
  readonly kind: 'Entity';
  readonly name: string;
  readonly joinKeys: readonly JoinKey[];
}

export interface EntityInput extends Partial<CommonMeta> {
  name: string;
  /** A single key name (typed `string` unless `joinKeys` is an object), or typed keys. */
  joinKeys: Record<string, FieldType<ScalarType>>;
}

/**
 * Declares an entity with one or more typed join keys.
 *
 * @example
 * const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
 * const pair = entity({ name: 'user_merchant', joinKeys: { user_id: int64(), merchant_id: string() } });
 */
export function entity(input: EntityInput): Entity {
  assertName(input.name, 'entity');
  const joinKeys = Object.entries(input.joinKeys).map(([name, t]) => {
    assertName(name, `entity '${input.name}' join key`);
    if (t.type.startsWith('list<')) {
      throw definitionError(`join key '${name}' of entity '${input.name}' is a list`, {
        field: name,
        expected: 'a scalar type',
      });
    }
    return Object.freeze({ name, type: t.type });
  });
  if (joinKeys.length === 0) {
    throw definitionError(`entity '${input.name}' has no join keys`, {
      field: 'joinKeys',
      expected: 'at least one',
    });
  }
  return Object.freeze({
    kind: 'Entity',
    name: input.name,
    joinKeys: Object.freeze(joinKeys),
    ...commonMeta(input),
  });
}
