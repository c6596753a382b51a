/**
 * The `ts` blocks of the docs, as a reader copies them: extracted, type-checked under the
 * project's strict settings against the built package (`import ... from 'agentbus'`), and
 * transpiled to run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

/** The repository's root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** One fenced `ts` block of a markdown file. */
export interface DocBlock {
  /** `docs/cqrs.md:24`: the file and the line of the opening fence. */
  readonly name: string;
  readonly code: string;
}

/** The `ts` blocks of a markdown file (path relative to the repository), in order. */
export function tsBlocks(file: string): DocBlock[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  let start: number | undefined;
  let body: string[] = [];
  lines.forEach((line, i) => {
    if (start === undefined && line.trim() === '```ts') {
      start = i + 1;
      body = [];
    } else if (start !== undefined && line.trim() === '```') {
      blocks.push({ name: `${file}:${start}`, code: `${body.join('\n')}\n` });
      start = undefined;
    } else if (start !== undefined) {
      body.push(line);
    }
  });
  return blocks;
}

/**
 * True for a block that shows a piece of an options object (`runner: { ... }`,
 * `handler: async (event, ctx) => ...`) rather than statements: it is not a program.
 */
export function isFragment(block: DocBlock): boolean {
  return /^[A-Za-z_]\w*\s*:/.test(block.code.trimStart());
}

/** The compiler options a reader of the docs is promised: the project's strict settings. */
const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  typeRoots: [join(ROOT, 'node_modules/@types')],
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  noEmit: true,
  paths: { agentbus: [join(ROOT, 'dist/index.d.ts')] },
};

/**
 * Where a block uses `bus` without opening one, the docs mean the bus opened earlier on the
 * page: it is declared for it, as an `AgentBus`.
 */
function withBus(code: string): string {
  if (!/\bbus\b/.test(code) || /\b(const|let)\s+bus\b/.test(code)) return code;
  return `import type { AgentBus as DocsAgentBus } from 'agentbus';\ndeclare const bus: DocsAgentBus;\n${code}`;
}

/**
 * Type-checks each block as a module of its own under strict settings.
 * @returns one line per error: `docs/cqrs.md:24 (line 3): message`; empty when all compile.
 */
export function typecheckBlocks(blocks: readonly DocBlock[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-docs-'));
  try {
    const files = new Map<string, { block: DocBlock; offset: number }>();
    blocks.forEach((block, i) => {
      const path = join(dir, `block-${i}.mts`);
      const code = withBus(block.code);
      writeFileSync(path, code);
      files.set(path, { block, offset: code.split('\n').length - block.code.split('\n').length });
    });
    const program = ts.createProgram([...files.keys()], OPTIONS);
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      const origin = d.file ? files.get(d.file.fileName) : undefined;
      if (!d.file || d.start === undefined || !origin) return `${d.file?.fileName ?? '(options)'}: ${text}`;
      const line = d.file.getLineAndCharacterOfPosition(d.start).line + 1 - origin.offset;
      return `${origin.block.name} (line ${line}): ${text}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A block as JavaScript a reader's Node runs (types stripped; imports left as written). */
export function transpile(code: string): string {
  return ts.transpileModule(code, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
}
