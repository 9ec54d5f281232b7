import type { Profile } from './profile.js';

/**
 * Where named reference profiles live: the registry database (SQLite embedded, PostgreSQL for teams), in a
 * `profiles` table of their own beside the registry's tables.
 *
 * In the contract: saving a profile under a name appends version N+1 of that name (history is kept, nothing
 * is overwritten); reading the newest or a given version; listing names; a name's history. Not in the contract:
 * computing profiles or drift (`profiler.ts`, `drift.ts`).
 *
 * @example
 * const saved = await store.save('shop', 'orders_2024_q1', profile); // { name, version: 1, savedAt, profile }
 * const ref = await store.get('shop', 'orders_2024_q1');           // the newest version
 */
export interface ProfileStore {
  readonly kind: string;

  /** Appends the profile as the next version of `name` (1 for a new name). */
  save(project: string, name: string, profile: Profile): Promise<StoredProfile>;

  /** The newest version of `name`, or the given version; undefined when there is none. */
  get(project: string, name: string, version?: number): Promise<StoredProfile | undefined>;

  /** Every name of the project with its newest version, by name. */
  list(project: string): Promise<ProfileInfo[]>;

  /** Versions of `name`, newest first, without the profiles. */
  history(project: string, name: string, limit?: number): Promise<ProfileInfo[]>;

  close(): Promise<void>;
}

export interface ProfileInfo {
  readonly name: string;
  readonly version: number;
  readonly savedAt: Date;
  /** `Profile.target` in short: `source orders`, `view user_stats`, `training-set train.parquet`. */
  readonly target: string;
  readonly rowCount: number;
}

export interface StoredProfile extends ProfileInfo {
  readonly profile: Profile;
}

/** The short description of what a profile was computed on, as `ProfileInfo.target` shows it. */
export function describeTarget(profile: Profile): string {
  const t = profile.target;
  switch (t.kind) {
    case 'source':
      return `source ${t.source}`;
    case 'view':
      return `view ${t.view}`;
    case 'training-set':
      return `training-set ${t.path}`;
    case 'relation':
      return t.description;
  }
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Profile names are identifiers (letters, digits, `_ . -`), so they are safe in files, URLs and shells. */
export function isProfileName(name: string): boolean {
  return NAME.test(name) && name.length <= 200;
}
