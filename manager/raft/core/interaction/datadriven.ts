// Data-driven scripts: the parser, the runner and the diff for the interaction tests of the Raft
// core. A script is a sequence of blocks; each block is one or more command lines, a `----`
// separator and the expected transcript of those commands:
//
//   # comments start with '#' (outside expected output) and are kept as they are
//   propose 1 foo
//   ----
//   ok index=7 term=2
//
// Blocks are separated by blank lines. An expected output that itself contains blank lines is
// written between a doubled separator (`----` `----` … `----` `----`); the runner picks that form
// by itself when it rewrites a file.
//
// Arguments are `key=value`, `key=(a,b,c)`, bare words or bare lists `(a,b,c)`; a value may be
// double-quoted to hold spaces (`propose 1 "a b"`).
//
// Regenerating: run the tests with `TUG_REGEN=1` in the environment
// (`npm run build && TUG_REGEN=1 npx ava build/manager/raft/core/interaction/interaction.test.js`)
// and the runner rewrites every block's expected output with what the code printed instead of
// comparing. Review the change with `git diff` like any other change: a transcript is a claim.
//
// This module is pure (raft/core imports no `node:*`): it turns text into text. Reading files,
// the environment variable and writing files back live in interaction.test.ts.

/** Bad script text or a bad command: names the file and line. Never a transcript line. */
export class ScriptError extends Error {
  readonly code = 'SCRIPT_ERROR';
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, message: string, options?: ErrorOptions) {
    super(`${file}:${line}: ${message}`, options);
    this.name = 'ScriptError';
    this.file = file;
    this.line = line;
  }
}

export interface CommandArg {
  /** Null for a positional argument. */
  readonly key: string | null;
  /** One value for `k=v` or a bare word, several for a list. */
  readonly values: readonly string[];
  readonly isList: boolean;
}

export class Command {
  readonly name: string;
  readonly args: readonly CommandArg[];
  readonly file: string;
  readonly line: number;
  readonly text: string;

  constructor(name: string, args: readonly CommandArg[], file: string, line: number, text: string) {
    this.name = name;
    this.args = args;
    this.file = file;
    this.line = line;
    this.text = text;
  }

  error(message: string): ScriptError {
    return new ScriptError(this.file, this.line, `${this.name}: ${message}`);
  }

  /** Positional arguments (bare words and bare lists), flattened in order. */
  positional(): string[] {
    return this.args.filter((a) => a.key === null).flatMap((a) => a.values);
  }

  has(key: string): boolean {
    return this.args.some((a) => a.key === key);
  }

  /** The values of `key=…`, or undefined when absent. */
  named(key: string): readonly string[] | undefined {
    const found = this.args.filter((a) => a.key === key);
    if (found.length > 1) throw this.error(`argument ${key} given twice`);
    return found[0]?.values;
  }

  /** Refuses arguments a command does not know, so typos don't pass silently. */
  allowOnly(keys: readonly string[], maxPositional: number): void {
    for (const a of this.args) {
      if (a.key !== null && !keys.includes(a.key)) {
        const known = keys.length > 0 ? ` (known: ${keys.join(', ')})` : '';
        throw this.error(`unknown argument ${a.key}${known}`);
      }
    }
    const n = this.positional().length;
    if (n > maxPositional) {
      throw this.error(`takes at most ${maxPositional} positional argument(s), got ${n}`);
    }
  }

  int(value: string, what: string): number {
    if (!/^-?\d+$/.test(value)) throw this.error(`${what} must be an integer, got "${value}"`);
    return Number(value);
  }

  namedInt(key: string, fallback: number): number {
    const v = this.named(key);
    if (v === undefined) return fallback;
    if (v.length !== 1) throw this.error(`${key} takes one value`);
    return this.int(v[0]!, key);
  }

  namedBool(key: string, fallback: boolean): boolean {
    const v = this.named(key);
    if (v === undefined) return fallback;
    if (v.length !== 1 || (v[0] !== 'true' && v[0] !== 'false')) {
      throw this.error(`${key} must be true or false`);
    }
    return v[0] === 'true';
  }

  namedString(key: string): string | undefined {
    const v = this.named(key);
    if (v === undefined) return undefined;
    if (v.length !== 1) throw this.error(`${key} takes one value`);
    return v[0];
  }

  namedInts(key: string): number[] | undefined {
    return this.named(key)?.map((v) => this.int(v, key));
  }
}

export interface Block {
  readonly commands: readonly Command[];
  readonly expected: string;
  /** Line (1-based) of the first command. */
  readonly line: number;
  /** Line indexes (0-based, [start, end)) of the separator and expected output in the file. */
  readonly replaceStart: number;
  readonly replaceEnd: number;
}

export interface Script {
  readonly file: string;
  readonly lines: readonly string[];
  readonly blocks: readonly Block[];
}

const SEPARATOR = '----';

const isBlank = (s: string): boolean => s.trim() === '';
const isComment = (s: string): boolean => s.trimStart().startsWith('#');

/** Splits a command line into arguments; quoting and lists as described at the top. */
export const parseCommandLine = (text: string, file: string, line: number): Command => {
  const fail = (msg: string): ScriptError => new ScriptError(file, line, `${msg}: ${text}`);
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ' || text[i] === '\t') {
      i++;
      continue;
    }
    let tok = '';
    let depth = 0;
    while (i < text.length && (depth > 0 || (text[i] !== ' ' && text[i] !== '\t'))) {
      const ch = text[i]!;
      if (ch === '"') {
        const end = text.indexOf('"', i + 1);
        if (end < 0) throw fail('unterminated quote');
        tok += text.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      if (ch === '(') depth++;
      if (ch === ')') depth--;
      if (depth < 0) throw fail('unbalanced parenthesis');
      tok += ch;
      i++;
    }
    if (depth !== 0) throw fail('unbalanced parenthesis');
    tokens.push(tok);
  }
  const [name, ...rest] = tokens;
  if (name === undefined) throw fail('empty command');
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw fail(`bad command name "${name}"`);
  const unquote = (v: string): string =>
    v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  const parseValue = (v: string): { values: string[]; isList: boolean } => {
    if (v.startsWith('(')) {
      if (!v.endsWith(')')) throw fail(`bad list "${v}"`);
      const inner = v.slice(1, -1).trim();
      const values = inner === '' ? [] : inner.split(',').map((s) => unquote(s.trim()));
      if (values.some((s) => s === '')) throw fail(`empty element in list "${v}"`);
      return { values, isList: true };
    }
    return { values: [unquote(v)], isList: false };
  };
  const args: CommandArg[] = rest.map((tok) => {
    const eq = tok.startsWith('"') ? -1 : tok.indexOf('=');
    if (eq > 0) {
      const key = tok.slice(0, eq);
      if (!/^[a-z][a-z0-9-]*$/.test(key)) throw fail(`bad argument name "${key}"`);
      const val = tok.slice(eq + 1);
      if (val === '') throw fail(`argument ${key} has no value`);
      return { key, ...parseValue(val) };
    }
    return { key: null, ...parseValue(tok) };
  });
  return new Command(name, args, file, line, text);
};

export const parseScript = (file: string, text: string): Script => {
  const lines = text.split('\n');
  // A trailing newline does not make an extra (empty) line.
  if (lines.at(-1) === '') lines.pop();
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (isBlank(l) || isComment(l)) {
      i++;
      continue;
    }
    const commands: Command[] = [];
    const first = i + 1;
    while (i < lines.length && lines[i] !== SEPARATOR) {
      const c = lines[i]!;
      if (isBlank(c)) {
        throw new ScriptError(
          file,
          first,
          `block has no ${SEPARATOR} separator before line ${i + 1}`,
        );
      }
      if (!isComment(c)) commands.push(parseCommandLine(c.trim(), file, i + 1));
      i++;
    }
    if (i >= lines.length) {
      throw new ScriptError(
        file,
        first,
        `block has no ${SEPARATOR} separator before the end of the file`,
      );
    }
    const replaceStart = i;
    i++;
    const out: string[] = [];
    if (lines[i] === SEPARATOR) {
      // Doubled separator: the output may hold blank lines and ends at the next doubled one.
      i++;
      while (i < lines.length && !(lines[i] === SEPARATOR && lines[i + 1] === SEPARATOR)) {
        out.push(lines[i]!);
        i++;
      }
      if (i >= lines.length) {
        throw new ScriptError(
          file,
          first,
          `output opened with a doubled ${SEPARATOR} is never closed`,
        );
      }
      i += 2;
    } else {
      while (i < lines.length && !isBlank(lines[i]!)) {
        out.push(lines[i]!);
        i++;
      }
    }
    blocks.push({
      commands,
      expected: out.join('\n'),
      line: first,
      replaceStart,
      replaceEnd: i,
    });
  }
  return { file, lines, blocks };
};

/** The separator and output as they should appear in a file. */
const renderOutput = (actual: string): string[] => {
  const out = actual === '' ? [] : actual.split('\n');
  if (out.some(isBlank)) return [SEPARATOR, SEPARATOR, ...out, SEPARATOR, SEPARATOR];
  return [SEPARATOR, ...out];
};

/** Normalizes what a handler printed: no trailing spaces, no trailing blank lines. */
const normalize = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/\n+$/, '');

export interface Mismatch {
  readonly file: string;
  readonly line: number;
  readonly commands: string;
  readonly expected: string;
  readonly actual: string;
}

export interface ScriptOutcome {
  readonly mismatches: readonly Mismatch[];
  /** The file with every expected output replaced by the actual one (what TUG_REGEN writes). */
  readonly regenerated: string;
}

/**
 * Runs each block's commands through `handle` in order and compares the joined output with the
 * expected transcript. A ScriptError from the handler propagates (the script is wrong); any
 * other error is wrapped with the command's location.
 */
export const runScript = (script: Script, handle: (cmd: Command) => string): ScriptOutcome => {
  const mismatches: Mismatch[] = [];
  const rebuilt: string[] = [];
  let copied = 0;
  for (const block of script.blocks) {
    const outputs: string[] = [];
    for (const cmd of block.commands) {
      let printed: string;
      try {
        printed = handle(cmd);
      } catch (err) {
        if (err instanceof ScriptError) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        throw new ScriptError(cmd.file, cmd.line, `${cmd.name} failed: ${msg}`, { cause: err });
      }
      if (printed !== '') outputs.push(printed);
    }
    const actual = normalize(outputs.join('\n'));
    const expected = normalize(block.expected);
    if (actual !== expected) {
      mismatches.push({
        file: script.file,
        line: block.line,
        commands: block.commands.map((c) => c.text).join('; '),
        expected,
        actual,
      });
    }
    rebuilt.push(...script.lines.slice(copied, block.replaceStart), ...renderOutput(actual));
    copied = block.replaceEnd;
  }
  rebuilt.push(...script.lines.slice(copied));
  return { mismatches, regenerated: `${rebuilt.join('\n')}\n` };
};

/**
 * A line diff (longest common subsequence; transcripts are small) in unified style: ' ' kept,
 * '-' expected only, '+' actual only, with up to `context` unchanged lines around each change.
 */
export const lineDiff = (expected: string, actual: string, context = 3): string => {
  const a = expected === '' ? [] : expected.split('\n');
  const b = actual === '' ? [] : actual.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: { tag: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ tag: ' ', text: a[i]! });
      i++;
      j++;
    } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ tag: '-', text: a[i]! });
      i++;
    } else {
      ops.push({ tag: '+', text: b[j]! });
      j++;
    }
  }
  const near = ops.map((_, k) =>
    ops.slice(Math.max(0, k - context), k + context + 1).some((o) => o.tag !== ' '),
  );
  const out: string[] = [];
  let skipped = false;
  ops.forEach((o, k) => {
    if (near[k]) {
      if (skipped) out.push('@@ …');
      skipped = false;
      out.push(`${o.tag}${o.text}`);
    } else {
      skipped = true;
    }
  });
  if (skipped) out.push('@@ …');
  return out.join('\n');
};

export const formatMismatch = (m: Mismatch): string =>
  [
    `${m.file}:${m.line}: output of "${m.commands}" differs`,
    '--- expected',
    '+++ actual',
    lineDiff(m.expected, m.actual),
  ].join('\n');
