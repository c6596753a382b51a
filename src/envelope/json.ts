/**
 * Checks that a value is JSON and nothing else, without recursion, and measures UTF-8 sizes.
 * Internal to the envelope layer.
 *
 * Pure.
 */
import { invalidField } from '../errors.js';

/** One container on the walk; the chain of parents gives the error path and cycle check. */
interface Frame {
  readonly value: object;
  readonly parent: Frame | undefined;
  readonly key: string | number;
  readonly depth: number;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Throws `ENVELOPE_INVALID` unless `value` is a JSON value: null, a boolean, a finite number,
 * a string, an array or a plain object of those. Refuses undefined, functions, symbols,
 * bigints, NaN/Infinity, Dates, class instances and cycles, containers nested deeper than
 * `maxDepth` (the value itself is depth 1), and values whose JSON text is certainly longer
 * than `maxBytes` (a lower bound is counted as the walk goes, so shared sub-objects cannot
 * make the walk explode).
 *
 * @param root label of the value in error paths, e.g. `payload` or `event.custom`.
 */
export function assertJsonValue(value: unknown, root: string, maxDepth: number, maxBytes: number): void {
  if (typeof value !== 'object' || value === null) {
    checkLeaf(value, undefined, root, root);
    return;
  }
  let bytes = 0;
  const stack: Frame[] = [];
  enter(stack, value, undefined, root, 1, maxDepth, root);
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const container = frame.value;
    bytes += 2;
    if (Array.isArray(container)) {
      for (let i = 0; i < container.length; i++) {
        const item: unknown = container[i];
        bytes += 1;
        if (typeof item === 'object' && item !== null) {
          enter(stack, item, frame, i, frame.depth + 1, maxDepth, root);
        } else {
          bytes += checkLeaf(item, frame, i, root);
        }
      }
    } else {
      const record = container as Record<string, unknown>;
      // for-in is about twice as fast as Object.keys here; plain objects (checked on entry)
      // have no inherited enumerable keys unless Object.prototype itself was polluted.
      for (const key in record) {
        const item = record[key];
        bytes += key.length + 4;
        if (typeof item === 'object' && item !== null) {
          enter(stack, item, frame, key, frame.depth + 1, maxDepth, root);
        } else {
          bytes += checkLeaf(item, frame, key, root);
        }
      }
    }
    if (bytes > maxBytes) {
      throw invalidField('ENVELOPE_INVALID', root, `larger than the limit of ${maxBytes} bytes`, {
        limit: maxBytes,
      });
    }
  }
}

/** Validates a non-container value and returns a lower bound of its JSON length in bytes. */
function checkLeaf(value: unknown, parent: Frame | undefined, key: string | number, root: string): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'boolean':
      return 4;
    case 'number':
      if (Number.isFinite(value)) return 1;
      throw refuse(parent, key, root, `${value} is not JSON (numbers must be finite)`);
    case 'object':
      return 4; // null
    case 'undefined':
      throw refuse(parent, key, root, 'undefined is not JSON (omit the field or use null)');
    case 'bigint':
      throw refuse(parent, key, root, 'a bigint is not JSON (use a number or a string)');
    case 'function':
      throw refuse(parent, key, root, 'a function is not JSON');
    default:
      throw refuse(parent, key, root, `a ${typeof value} is not JSON`);
  }
}

function enter(
  stack: Frame[],
  value: object,
  parent: Frame | undefined,
  key: string | number,
  depth: number,
  maxDepth: number,
  root: string,
): void {
  if (!Array.isArray(value)) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const reason =
        value instanceof Date
          ? 'a Date is not JSON (use an RFC 3339 string)'
          : `a ${constructorName(value)} is not JSON (use a plain object)`;
      throw refuse(parent, key, root, reason);
    }
  }
  if (depth > maxDepth) {
    // A cycle always ends up here; name the first place where it closes.
    const chain: Frame[] = [{ value, parent, key, depth }];
    for (let f = parent; f !== undefined; f = f.parent) chain.unshift(f);
    for (let j = 1; j < chain.length; j++) {
      const frame = chain[j];
      if (frame !== undefined && chain.slice(0, j).some((f) => f.value === frame.value)) {
        throw refuse(frame.parent, frame.key, root, 'circular reference');
      }
    }
    throw refuse(parent, key, root, `nested deeper than ${maxDepth} levels`);
  }
  stack.push({ value, parent, key, depth });
}

function constructorName(value: object): string {
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'non-plain object';
}

function refuse(parent: Frame | undefined, key: string | number, root: string, reason: string) {
  return invalidField('ENVELOPE_INVALID', pathOf(parent, key, root), reason);
}

/** Builds `payload.a.b[3]["odd key"]` from the chain of frames, only when an error is thrown. */
function pathOf(parent: Frame | undefined, key: string | number, root: string): string {
  if (parent === undefined) return root;
  const parts: Array<string | number> = [key];
  for (let f: Frame | undefined = parent; f?.parent !== undefined; f = f.parent) parts.push(f.key);
  let path = root;
  for (let i = parts.length - 1; i >= 0; i--) path += formatKey(parts[i] ?? '');
  return path;
}

/** Formats one step of a field path: `.name`, `[3]` or `["odd key"]`. */
export function formatKey(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * Number of bytes `text` takes in UTF-8. Lone surrogates count as the 3 bytes of U+FFFD,
 * as a UTF-8 encoder would write them.
 */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // 2 UTF-16 units -> 4 bytes
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Sets an own, enumerable property, even one named `__proto__`. */
export function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** True when `text` has no lone surrogates, so it can be encoded as UTF-8 without loss. */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
    i++;
  }
  return true;
}
