// Placement constraints: parsing `<key> (==|!=) <value>` and evaluating them against a node.
// Pure; one grammar for the manifest validator (syntax), the scheduler (filtering) and the global
// orchestrator (eligible nodes).
// Semantics and the reasons behind them: docs/scheduler.md "Constraints".
import type { Node } from './model.js';

export const ConstraintOperator = { Eq: '==', Ne: '!=' } as const;
export type ConstraintOperator = (typeof ConstraintOperator)[keyof typeof ConstraintOperator];

/** What a constraint looks at on a node. */
export type ConstraintKey =
  | { readonly type: 'id' }
  | { readonly type: 'hostname' }
  | { readonly type: 'role' }
  | { readonly type: 'os' }
  | { readonly type: 'arch' }
  /** Operator-set labels (`node.spec.labels`). */
  | { readonly type: 'node-label'; readonly label: string }
  /** Agent-reported labels (`node.description.labels`). */
  | { readonly type: 'engine-label'; readonly label: string };

export interface Constraint {
  /** The source text, trimmed: used in explanations so users see what they wrote. */
  readonly text: string;
  readonly key: ConstraintKey;
  readonly operator: ConstraintOperator;
  readonly value: string;
}

export class ConstraintParseError extends Error {
  readonly code = 'invalid-constraint';
  readonly temporary = false;
  readonly constraint: string;
  readonly reason: string;
  constructor(constraint: string, reason: string) {
    super(`invalid constraint ${JSON.stringify(constraint)}: ${reason}`);
    this.name = 'ConstraintParseError';
    this.constraint = constraint;
    this.reason = reason;
  }
}

export type ParseOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ConstraintParseError };

const fixedKeys: Readonly<Record<string, ConstraintKey>> = {
  'node.id': { type: 'id' },
  'node.hostname': { type: 'hostname' },
  'node.role': { type: 'role' },
  'node.platform.os': { type: 'os' },
  'node.platform.arch': { type: 'arch' },
};
const labelPrefixes = [
  ['node.labels.', 'node-label'],
  ['engine.labels.', 'engine-label'],
] as const;

// Label keys and values as Docker accepts them, minus whitespace and the operators.
const labelKeyPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const valuePattern = /^[^\s=!]+$/;

const parseKey = (raw: string): ConstraintKey | string => {
  const fixed = fixedKeys[raw.toLowerCase()];
  if (fixed !== undefined) return fixed;
  for (const [prefix, type] of labelPrefixes) {
    if (raw.toLowerCase().startsWith(prefix)) {
      const label = raw.slice(prefix.length);
      if (!labelKeyPattern.test(label)) return `invalid label name ${JSON.stringify(label)}`;
      return { type, label };
    }
  }
  return `unknown key ${JSON.stringify(raw)} (expected node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)`;
};

export const parseConstraint = (source: string): ParseOutcome<Constraint> => {
  const text = source.trim();
  const fail = (reason: string): ParseOutcome<Constraint> => ({
    ok: false,
    error: new ConstraintParseError(source, reason),
  });
  const eq = text.indexOf('==');
  const ne = text.indexOf('!=');
  const hits = [eq, ne].filter((i) => i >= 0);
  if (hits.length === 0) return fail('expected an operator, == or !=');
  const at = Math.min(...hits);
  const operator = at === ne ? ConstraintOperator.Ne : ConstraintOperator.Eq;
  const rawKey = text.slice(0, at).trim();
  const value = text.slice(at + 2).trim();
  if (rawKey === '') return fail('missing key before the operator');
  if (value === '') return fail('missing value after the operator');
  if (!valuePattern.test(value)) return fail(`invalid value ${JSON.stringify(value)}`);
  const key = parseKey(rawKey);
  if (typeof key === 'string') return fail(key);
  if (key.type === 'role' && !['manager', 'worker'].includes(value.toLowerCase())) {
    return fail(`a role is manager or worker, not ${JSON.stringify(value)}`);
  }
  return { ok: true, value: { text: `${rawKey} ${operator} ${value}`, key, operator, value } };
};

/** All or nothing: the first error wins, so the message names one constraint to fix. */
export const parseConstraints = (sources: readonly string[]): ParseOutcome<Constraint[]> => {
  const out: Constraint[] = [];
  for (const s of sources) {
    const r = parseConstraint(s);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return { ok: true, value: out };
};

/** The node's value for a key, or undefined when the node has no such label. */
const lookup = (key: ConstraintKey, node: Node): string | undefined => {
  switch (key.type) {
    case 'id':
      return node.meta.id;
    case 'hostname':
      return node.description.hostname;
    case 'role':
      return node.spec.role;
    case 'os':
      return node.description.platform.os;
    case 'arch':
      return node.description.platform.arch;
    case 'node-label':
      return Object.hasOwn(node.spec.labels, key.label) ? node.spec.labels[key.label] : undefined;
    case 'engine-label':
      return Object.hasOwn(node.description.labels, key.label)
        ? node.description.labels[key.label]
        : undefined;
  }
};

// Host names, roles and platform names are case-insensitive by nature (DNS, `Linux` vs `linux`);
// ids and labels are data the user chose and compare exactly.
const caseInsensitive = (key: ConstraintKey): boolean =>
  key.type === 'hostname' || key.type === 'role' || key.type === 'os' || key.type === 'arch';

export const matches = (c: Constraint, node: Node): boolean => {
  const actual = lookup(c.key, node);
  // A missing label never equals anything, so `!=` holds and `==` fails (Swarm does the same).
  if (actual === undefined) return c.operator === ConstraintOperator.Ne;
  const equal = caseInsensitive(c.key)
    ? actual.toLowerCase() === c.value.toLowerCase()
    : actual === c.value;
  return c.operator === ConstraintOperator.Eq ? equal : !equal;
};

/** The first constraint the node fails, or undefined when it passes them all. */
export const firstFailed = (cs: readonly Constraint[], node: Node): Constraint | undefined =>
  cs.find((c) => !matches(c, node));
