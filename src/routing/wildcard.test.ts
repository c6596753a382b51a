import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchPattern } from './index.js';

/** Matches `text` against a `wildcard` operator through the public pattern API. */
function wildcard(pattern: string, text: string): boolean {
  return matchPattern({ v: [{ wildcard: pattern }] }, { v: text });
}

type Piece = { readonly star: true } | { readonly literal: string };

/** The wildcard syntax of a piece list: stars as `*`, literal stars and backslashes escaped. */
function toWildcard(pieces: readonly Piece[]): string {
  return pieces.map((p) => ('star' in p ? '*' : p.literal.replace(/[\\*]/g, (c) => `\\${c}`))).join('');
}

/** A reference regex for the same piece list (fine on short inputs). */
function toRegExp(pieces: readonly Piece[]): RegExp {
  const body = pieces
    .map((p) => ('star' in p ? '[\\s\\S]*' : p.literal.replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\${c}`)))
    .join('');
  return new RegExp(`^${body}$`);
}

const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc.constant<Piece>({ star: true }),
  fc.constantFrom('a', 'b', '*', '\\').map((literal): Piece => ({ literal })),
);
/** Piece lists without two stars in a row, which the syntax refuses. */
const pieces = fc
  .array(piece, { maxLength: 8 })
  .filter((list) => list.every((p, i) => !('star' in p && i > 0 && 'star' in (list[i - 1] ?? {}))));

describe('wildcard matching', () => {
  it('agrees with a reference regex on short inputs', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '*', '\\'), maxLength: 10 });
    fc.assert(
      fc.property(pieces, text, (p, t) => {
        expect(wildcard(toWildcard(p), t)).toBe(toRegExp(p).test(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts texts built to fit the pattern', () => {
    const filler = fc.string({ unit: fc.constantFrom('a', 'b', '*', '\\'), maxLength: 4 });
    fc.assert(
      fc.property(pieces, fc.array(filler, { minLength: 8, maxLength: 8 }), (p, fills) => {
        const text = p.map((x, i) => ('star' in x ? (fills[i] ?? '') : x.literal)).join('');
        expect(wildcard(toWildcard(p), text)).toBe(true);
      }),
    );
  });

  it('runs a pathological pattern against a long text without backtracking', () => {
    const text = 'a'.repeat(10_000);
    expect(wildcard('a*a*a*a*a*a*a*b', text)).toBe(false);
    expect(wildcard('*a*a*a*a*a*a*a*', text)).toBe(true);
    expect(wildcard('*aab*', text)).toBe(false);
    expect(wildcard('a*a*a*a*a*a*a*b', `${text}b`)).toBe(true);
  });
});
