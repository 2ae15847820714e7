/**
 * Reads the JSON request bodies the daemon forwards (base64 `RequestBody`) as dockerd's Go handlers will decode them.
 * `JSON.parse` is not enough: Go matches keys to struct fields case-insensitively and, for a repeated key, decodes
 * into the same struct again, so `{"Spec":{"Image":"evil"},"spec":{}}` still carries `evil`. This parser keeps every
 * member, duplicates included, and `valuesAt` returns every value Go could end up with.
 */

/** An object with all its members in order; repeated keys are kept. */
export interface JsonObject {
  readonly members: ReadonlyArray<readonly [string, JsonValue]>;
}
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;

export const isJsonObject = (value: JsonValue): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deeper than any Docker API body; Go accepts more, but such a body is not from a Docker client and is refused. */
export const MAX_JSON_DEPTH = 64;

const WHITESPACE = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERALS: ReadonlyArray<readonly [string, JsonValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];

class JsonSyntaxError extends Error {}

class Parser {
  private at = 0;
  constructor(private readonly text: string) {}

  document(): JsonValue {
    const value = this.value(0);
    this.skipWhitespace();
    if (this.at !== this.text.length) throw new JsonSyntaxError('trailing data');
    return value;
  }

  private value(depth: number): JsonValue {
    if (depth > MAX_JSON_DEPTH) throw new JsonSyntaxError('nested too deeply');
    this.skipWhitespace();
    const char = this.text[this.at];
    if (char === '{') return this.object(depth);
    if (char === '[') return this.array(depth);
    if (char === '"') return this.string();
    const number = this.match(NUMBER);
    if (number !== undefined) return Number(number);
    for (const [word, literal] of LITERALS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return literal;
      }
    }
    throw new JsonSyntaxError(`unexpected input at ${this.at}`);
  }

  private object(depth: number): JsonObject {
    this.at++;
    const members: Array<readonly [string, JsonValue]> = [];
    this.skipWhitespace();
    if (this.text[this.at] === '}') {
      this.at++;
      return { members };
    }
    for (;;) {
      this.skipWhitespace();
      const key = this.string();
      this.skipWhitespace();
      this.expect(':');
      members.push([key, this.value(depth + 1)]);
      this.skipWhitespace();
      if (this.text[this.at] === '}') {
        this.at++;
        return { members };
      }
      this.expect(',');
    }
  }

  private array(depth: number): JsonValue[] {
    this.at++;
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.at] === ']') {
      this.at++;
      return items;
    }
    for (;;) {
      items.push(this.value(depth + 1));
      this.skipWhitespace();
      if (this.text[this.at] === ']') {
        this.at++;
        return items;
      }
      this.expect(',');
    }
  }

  private string(): string {
    const token = this.match(STRING);
    if (token === undefined) throw new JsonSyntaxError(`expected a string at ${this.at}`);
    // Most strings have no escape: slicing them is several times cheaper than JSON.parse (a 1 MiB spec is mostly strings).
    return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
  }

  private expect(char: string): void {
    if (this.text[this.at] !== char) throw new JsonSyntaxError(`expected ${char} at ${this.at}`);
    this.at++;
  }

  private skipWhitespace(): void {
    this.match(WHITESPACE);
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.text);
    if (found === null) return undefined;
    this.at += found[0].length;
    return found[0];
  }
}

/** Parses a whole JSON document strictly; undefined when it is not one (or nests deeper than MAX_JSON_DEPTH). */
export function parseJsonKeepingDuplicates(text: string): JsonValue | undefined {
  try {
    return new Parser(text).document();
  } catch (error) {
    if (error instanceof JsonSyntaxError) return undefined;
    throw error;
  }
}

/** The decoded text of a base64 `RequestBody`; Go's decoder, like this one, turns invalid UTF-8 into U+FFFD. */
export function decodeRequestBody(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

/**
 * Go's encoding/json key matching (bytes.EqualFold): ASCII case is ignored, and U+017F (long s) and U+212A (Kelvin
 * sign) fold to `s` and `k`, so `"Taſk"` fills a field named `Task`.
 */
export function goFoldKey(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

export type PathValues = { ok: true; values: JsonValue[] } | { ok: false; problem: string };

/**
 * Every value found under `path` (Go struct field names), through every key that Go would match, duplicates
 * included. A path step that is neither an object nor null would make Go's decoder fail: reported, not skipped.
 */
export function valuesAt(root: JsonValue, path: readonly string[]): PathValues {
  let level: JsonValue[] = [root];
  for (const [index, field] of path.entries()) {
    const wanted = goFoldKey(field);
    const next: JsonValue[] = [];
    for (const value of level) {
      if (value === null) continue;
      if (!isJsonObject(value)) return { ok: false, problem: `${path.slice(0, index).join('.') || 'body'} is not an object` };
      for (const [key, child] of value.members) if (goFoldKey(key) === wanted) next.push(child);
    }
    level = next;
  }
  return { ok: true, values: level };
}
