/**
 * Checks that a value is JSON and nothing else, without recursion, and measures UTF-8 sizes.
 * Internal to the envelope layer.
 *
 * Pure.
 */
import { invalidField } from '../errors.js';

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Thrown up the walk when a value is refused; each level adds its container and key on the
 * way up, so the happy path allocates nothing for error paths.
 */
class Refusal {
  /** Innermost first: the containers and keys from the refused value up to the root. */
  readonly chain: Array<{ value: object; key: string | number }> = [];
  constructor(
    readonly reason: string,
    /** A depth refusal: the chain may show a cycle, named instead. */
    readonly tooDeep: boolean,
  ) {}
}

/** A lower bound of the JSON text's length so far, counted by the walk in progress. */
let walked = 0;

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
  walked = 0;
  try {
    walk(value, 1, maxDepth, maxBytes);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    if (error.reason === OVERSIZE) {
      throw invalidField('ENVELOPE_INVALID', root, `larger than the limit of ${maxBytes} bytes`, { limit: maxBytes });
    }
    throw invalidField('ENVELOPE_INVALID', ...placeOf(error, root));
  }
}

const OVERSIZE = 'oversize';

/** Checks `value` at `depth`; recursion is bounded by `maxDepth`. */
function walk(value: unknown, depth: number, maxDepth: number, maxBytes: number): void {
  if (typeof value !== 'object' || value === null) {
    walked += checkLeaf(value);
    return;
  }
  if (!Array.isArray(value)) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new Refusal(
        value instanceof Date
          ? 'a Date is not JSON (use an RFC 3339 string)'
          : `a ${constructorName(value)} is not JSON (use a plain object)`,
        false,
      );
    }
  }
  // A cycle always ends up here; the refusal names the first place where it closes.
  if (depth > maxDepth) throw new Refusal(`nested deeper than ${maxDepth} levels`, true);
  walked += 2;
  let key: string | number = 0;
  try {
    if (Array.isArray(value)) {
      for (; (key as number) < value.length; key = (key as number) + 1) {
        walked += 1;
        walk(value[key as number], depth + 1, maxDepth, maxBytes);
      }
    } else {
      // for-in is about twice as fast as Object.keys here; plain objects (checked above)
      // have no inherited enumerable keys unless Object.prototype itself was polluted.
      for (key in value) {
        walked += key.length + 4;
        walk((value as Record<string, unknown>)[key], depth + 1, maxDepth, maxBytes);
      }
    }
  } catch (error) {
    if (error instanceof Refusal && error.reason !== OVERSIZE) error.chain.push({ value, key });
    throw error;
  }
  if (walked > maxBytes) throw new Refusal(OVERSIZE, false);
}

/** Validates a non-container value and returns a lower bound of its JSON length in bytes. */
function checkLeaf(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'boolean':
      return 4;
    case 'number':
      if (Number.isFinite(value)) return 1;
      throw new Refusal(`${value} is not JSON (numbers must be finite)`, false);
    case 'object':
      return 4; // null
    case 'undefined':
      throw new Refusal('undefined is not JSON (omit the field or use null)', false);
    case 'bigint':
      throw new Refusal('a bigint is not JSON (use a number or a string)', false);
    case 'function':
      throw new Refusal('a function is not JSON', false);
    default:
      throw new Refusal(`a ${typeof value} is not JSON`, false);
  }
}

/** The refused field's path (`payload.a.b[3]["odd key"]`) and the reason. */
function placeOf(refusal: Refusal, root: string): [string, string] {
  // Outermost first: chain[i].key leads from chain[i].value into the next container.
  const chain = [...refusal.chain].reverse();
  let end = chain.length;
  let reason = refusal.reason;
  if (refusal.tooDeep) {
    for (let j = 1; j < chain.length; j++) {
      const container = (chain[j] as { value: object }).value;
      if (chain.slice(0, j).some((step) => step.value === container)) {
        end = j;
        reason = 'circular reference';
        break;
      }
    }
  }
  let path = root;
  for (let i = 0; i < end; i++) path += formatKey((chain[i] as { key: string | number }).key);
  return [path, reason];
}

function constructorName(value: object): string {
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : 'non-plain object';
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
