import { type Document, parseDocument } from 'yaml';
import { type ErrorCode, TesseraError } from './errors.js';

/** Parses YAML keeping node positions, so later errors can name the line. Syntax errors name file and line. */
export function parseYaml(text: string, file: string, code: ErrorCode = 'INVALID_DEFINITION'): Document {
  const doc = parseDocument(text, { prettyErrors: false });
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
