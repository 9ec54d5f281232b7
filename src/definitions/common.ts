import { definitionError } from '../core/errors.js';

/** Metadata every definition carries, for discovery and ownership. */
export interface CommonMeta {
  readonly description: string;
  readonly owner: string;
  readonly tags: Readonly<Record<string, string>>;
}

export function commonMeta(input: Partial<CommonMeta>): CommonMeta {
  return {
    description: input.description ?? '',
    owner: input.owner ?? '',
    tags: Object.freeze({ ...(input.tags ?? {}) }),
  };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names become SQL identifiers, Redis key parts and column names, so they are restricted. */
export function assertName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw definitionError(`invalid ${what} name ${JSON.stringify(name)}`, {
      field: 'name',
      expected: 'letters, digits and underscores, not starting with a digit',
    });
  }
}
