import { definitionError } from '../core/errors.js';

/** Scalar feature types; the names are what YAML definitions and the registry use. */
export const SCALAR_TYPES = [
  'int32',
  'int64',
  'float32',
  'float64',
  'bool',
  'string',
  'bytes',
  'timestamp',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
/** A feature type: a scalar or a list of scalars, written `list<int64>`. */
export type ValueType = ScalarType | `list<${ScalarType}>`;

/** The JavaScript type a feature value of type `T` has in results. */
export type JsValueOf<T extends ValueType> = T extends `list<${infer S extends ScalarType}>`
  ? JsScalarOf<S>[]
  : T extends ScalarType
    ? JsScalarOf<T>
    : never;
type JsScalarOf<S extends ScalarType> = S extends 'int32' | 'int64' | 'float32' | 'float64'
  ? number
  : S extends 'bool'
    ? boolean
    : S extends 'string'
      ? string
      : S extends 'bytes'
        ? Uint8Array
        : S extends 'timestamp'
          ? Date
          : never;

/** A typed field declaration, made by the builders below; the type parameter drives result inference. */
export interface FieldType<T extends ValueType = ValueType> {
  readonly kind: 'FieldType';
  readonly type: T;
  readonly description?: string;
}

const field =
  <T extends ValueType>(type: T) =>
  (description?: string): FieldType<T> =>
    Object.freeze(
      description === undefined ? { kind: 'FieldType', type } : { kind: 'FieldType', type, description },
    );

/** @example schema: { clicks: int64(), ctr: float64('click-through rate') } */
export const int32 = field('int32');
export const int64 = field('int64');
export const float32 = field('float32');
export const float64 = field('float64');
export const bool = field('bool');
export const string = field('string');
export const bytes = field('bytes');
export const timestamp = field('timestamp');
/** @example schema: { recent_items: list(int64()) } */
export const list = <S extends ScalarType>(of: FieldType<S>, description?: string): FieldType<`list<${S}>`> =>
  field(`list<${of.type}>` as `list<${S}>`)(description);

export function isScalarType(t: string): t is ScalarType {
  return (SCALAR_TYPES as readonly string[]).includes(t);
}

/** Parses a type name as written in YAML (`int64`, `list<string>`, also `array<string>`). */
export function parseValueType(text: string, location: { file?: string; field?: string } = {}): ValueType {
  const t = text.trim().toLowerCase();
  if (isScalarType(t)) return t;
  const m = /^(?:list|array)<\s*([a-z0-9]+)\s*>$/.exec(t);
  if (m && isScalarType(m[1] as string)) return `list<${m[1] as ScalarType}>`;
  throw definitionError(`unknown type '${text}'`, {
    ...location,
    expected: `one of ${SCALAR_TYPES.join(', ')} or list<…> of them`,
  });
}

export function elementType(t: ValueType): ScalarType | undefined {
  return t.startsWith('list<') ? (t.slice(5, -1) as ScalarType) : undefined;
}

export const isNumericType = (t: ValueType): boolean =>
  t === 'int32' || t === 'int64' || t === 'float32' || t === 'float64';
