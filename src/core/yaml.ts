import { type Document, parseDocument } from 'yaml';
import { type ErrorCode, TesseraError } from './errors.js';

/** Parses YAML keeping node positions, so later errors can name the line. Syntax errors name file and line. */
export function parseYaml(text: string, file: string, code: ErrorCode = 'INVALID_DEFINITION'): Document {
  // prettyErrors computes line positions (linePos) for errors.
  const doc = parseDocument(text, { prettyErrors: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const row = err.linePos?.[0]?.line;
    throw new TesseraError(
      `invalid YAML: ${err.message.split('\n')[0]}`,
      { file, ...(row !== undefined ? { row } : {}) },
      code,
    );
  }
  return doc;
}

/** 1-based line of the deepest node that exists along `path`, for error messages. */
/**
 * The issue of a zod parse to report first: an unknown key (usually a typo, which also makes the intended
 * key look "missing") before anything else. Returns its message and the path to locate it by.
 */
export function firstIssue(
  issues: readonly { code: string; path: PropertyKey[]; message: string; keys?: string[] }[],
): {
  path: PropertyKey[];
  message: string;
} {
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  const issue = unknown ?? issues[0];
  if (!issue) return { path: [], message: 'invalid' };
  if (unknown?.keys?.[0] !== undefined) {
    return {
      path: [...unknown.path, unknown.keys[0]],
      message: `unknown key '${unknown.keys[0]}' (check its spelling)`,
    };
  }
  return { path: issue.path, message: issue.message };
}

export function yamlLine(doc: Document, text: string, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as (string | number)[], true) as
      | { range?: [number, number, number] }
      | undefined;
    if (node?.range) return lineAt(text, node.range[0]);
  }
  return undefined;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
