/**
 * Canonical JSON of a value (CONTRACT §4): object keys sorted recursively (by UTF-16 code units,
 * as RFC 8785), no insignificant whitespace, `undefined` members dropped as `JSON.stringify` does.
 * Two requests that differ only in key order or whitespace get the same text.
 *
 * Never deep recursion: values nested up to 64 levels (nearly every body) are written by a fast
 * recursive pass; deeper ones by an iterative writer, so a hostile body nested a million levels
 * deep costs memory, never the call stack. (A value the fast pass cannot finish — too deep, a
 * cycle, no JSON form — is written again from the start, so its `toJSON` methods run twice.)
 *
 * @throws {TypeError} on values JSON cannot represent faithfully (BigInt, cycles, non-finite numbers).
 */
export function canonicalJson(value: unknown): string {
  if (isSortedPlainJson(value, 0)) return JSON.stringify(value);
  const root = withToJson(value, '');
  return writeShallow(root, 0) ?? writeIterative(root);
}

/**
 * Whether `value` is plain JSON data (null, booleans, finite numbers, strings, arrays, objects
 * without `toJSON`) whose object keys are already in canonical order, at most
 * {@link SHALLOW_DEPTH} levels deep. Then `JSON.stringify` (native, fast) writes exactly the
 * canonical text: many clients already send sorted keys, and parsed bodies are plain data.
 */
function isSortedPlainJson(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (depth >= SHALLOW_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      if (!(index in value) || !isSortedPlainJson(value[index], depth + 1)) return false;
    }
    return true;
  }
  // Plain objects only: boxed primitives (`new String('a')`) and class instances take the general path.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const source = value as Readonly<Record<string, unknown>>;
  if (typeof source.toJSON === 'function') return false;
  let previous: string | undefined;
  for (const name in source) {
    if (!Object.prototype.hasOwnProperty.call(source, name)) return false;
    if (previous !== undefined && !(previous < name)) return false;
    if (!isSortedPlainJson(source[name], depth + 1)) return false;
    previous = name;
  }
  return true;
}

/** {@link canonicalJson} by the iterative writer alone, for tests: both writers must agree. */
export function canonicalJsonIterative(value: unknown): string {
  return writeIterative(withToJson(value, ''));
}

function writeIterative(root: unknown): string {
  const writer = new Writer();
  writer.open(root);
  writer.drain();
  return writer.out;
}

/** Nesting the recursive fast path handles; deeper values (and cycles, infinitely deep) go to the writer. */
const SHALLOW_DEPTH = 64;

/**
 * The common case, fast: a recursive writer with no cycle bookkeeping, bounded to
 * {@link SHALLOW_DEPTH} levels. Returns `undefined` for anything it does not write exactly as the
 * iterative writer would — deeper nesting (so a cycle too), values with no JSON form (the writer
 * throws the TypeError) — and the caller starts over with the iterative writer.
 */
function writeShallow(value: unknown, depth: number): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'object':
      break;
    default:
      return undefined;
  }
  if (depth >= SHALLOW_DEPTH) return undefined;
  if (Array.isArray(value)) {
    const items = value as readonly unknown[];
    let out = '[';
    for (let index = 0; index < items.length; index++) {
      if (index > 0) out += ',';
      const item = withToJson(items[index], index);
      if (omitted(item)) {
        out += 'null';
        continue;
      }
      const text = writeShallow(item, depth + 1);
      if (text === undefined) return undefined;
      out += text;
    }
    return `${out}]`;
  }
  const source = value as Readonly<Record<string, unknown>>;
  const keys = Object.keys(source).sort();
  let out = '{';
  let wrote = false;
  for (const name of keys) {
    const member = withToJson(source[name], name);
    if (omitted(member)) continue;
    const text = writeShallow(member, depth + 1);
    if (text === undefined) return undefined;
    out += `${wrote ? ',' : ''}${JSON.stringify(name)}:${text}`;
    wrote = true;
  }
  return `${out}}`;
}

type Frame =
  | { readonly kind: 'array'; readonly owner: object; readonly items: readonly unknown[]; index: number }
  | { readonly kind: 'object'; readonly owner: object; readonly source: Readonly<Record<string, unknown>>; readonly keys: readonly string[]; index: number; wrote: boolean };

class Writer {
  out = '';
  private readonly stack: Frame[] = [];
  private readonly onPath = new Set<object>();

  /** Write a primitive, or open an array/object frame. */
  open(value: unknown): void {
    if (value === null) {
      this.out += 'null';
      return;
    }
    switch (typeof value) {
      case 'string':
      case 'boolean':
        this.out += JSON.stringify(value);
        return;
      case 'number':
        if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form.`);
        this.out += JSON.stringify(value);
        return;
      case 'object':
        break;
      default:
        throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form.`);
    }
    const owner = value as object;
    if (this.onPath.has(owner)) throw new TypeError('canonicalJson: the value has a cycle.');
    this.onPath.add(owner);
    if (Array.isArray(owner)) {
      this.out += '[';
      this.stack.push({ kind: 'array', owner, items: owner, index: 0 });
    } else {
      this.out += '{';
      const source = owner as Readonly<Record<string, unknown>>;
      this.stack.push({ kind: 'object', owner, source, keys: Object.keys(source).sort(), index: 0, wrote: false });
    }
  }

  /** Write members until every open frame is closed. */
  drain(): void {
    for (let frame = this.stack.at(-1); frame !== undefined; frame = this.stack.at(-1)) {
      if (frame.kind === 'array') {
        if (frame.index >= frame.items.length) {
          this.close(frame, ']');
          continue;
        }
        if (frame.index > 0) this.out += ',';
        const item = withToJson(frame.items[frame.index], frame.index);
        frame.index++;
        if (omitted(item)) this.out += 'null';
        else this.open(item);
      } else {
        if (frame.index >= frame.keys.length) {
          this.close(frame, '}');
          continue;
        }
        const name = frame.keys[frame.index++] as string;
        const member = withToJson(frame.source[name], name);
        if (omitted(member)) continue;
        this.out += `${frame.wrote ? ',' : ''}${JSON.stringify(name)}:`;
        frame.wrote = true;
        this.open(member);
      }
    }
  }

  private close(frame: Frame, bracket: string): void {
    this.out += bracket;
    this.onPath.delete(frame.owner);
    this.stack.pop();
  }
}

/** What JSON.stringify drops from objects (and writes as null in arrays). */
function omitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** Apply `toJSON(key)` as JSON.stringify does (Date, and classes that define it). */
function withToJson(value: unknown, key: string | number): unknown {
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return toJSON.call(value, String(key)) as unknown;
  }
  return value;
}
