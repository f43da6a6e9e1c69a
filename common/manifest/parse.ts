// The manifest validator: YAML text in, either every manifest as a domain spec or every error with
// file, line, column and field (all-or-nothing, never a partial set). One implementation, used by
// the CLI (to fail fast, before anything reaches a manager) and by the control API (to trust
// nothing it is sent). The schema is documented in docs/manifests.md.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode, Scalar, YAMLMap } from 'yaml';

import type {
  BindMount,
  ContainerSpec,
  Healthcheck,
  Network,
  PlacementPreference,
  PortSpec,
  Resources,
  RestartCondition,
  ServiceSpec,
  UpdateFailureAction,
} from '../model.js';
import { parseConstraint } from '../constraints.js';
import { checkName, parseBytes, parseDurationMs, suggest } from './units.js';
import type { Parsed } from './units.js';

export const apiVersion = 'tug/v1';

export const ManifestKind = { Service: 'Service', Network: 'Network' } as const;
export type ManifestKind = (typeof ManifestKind)[keyof typeof ManifestKind];

interface ManifestBase {
  readonly file: string;
  /** Line (1-based) where the document's content starts. */
  readonly line: number;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}
export interface ServiceManifest extends ManifestBase {
  readonly kind: 'Service';
  readonly spec: ServiceSpec;
}
export interface NetworkManifest extends ManifestBase {
  readonly kind: 'Network';
  readonly spec: Network['spec'];
}
export type Manifest = ServiceManifest | NetworkManifest;

/** Stable, for callers that branch on the kind of mistake; `message` is for people. */
export const ManifestErrorCode = {
  Syntax: 'syntax',
  UnknownField: 'unknown-field',
  MissingField: 'missing-field',
  WrongType: 'wrong-type',
  InvalidValue: 'invalid-value',
  DuplicateName: 'duplicate-name',
  UnknownNetwork: 'unknown-network',
  /** Fields that are fine alone but not together (replicas with global, reservation > limit, …). */
  Conflict: 'conflict',
} as const;
export type ManifestErrorCode = (typeof ManifestErrorCode)[keyof typeof ManifestErrorCode];

export interface ManifestError {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Dotted path, with list indexes: `spec.ports[0].published`; '' for YAML syntax errors. */
  readonly field: string;
  readonly code: ManifestErrorCode;
  readonly message: string;
}

export interface ManifestSource {
  readonly file: string;
  readonly text: string;
}

export interface ParseOptions {
  /** Networks already in the cluster: services may reference these as well as those being applied. */
  readonly existingNetworks?: ReadonlySet<string>;
}

export type ParseResult =
  | { readonly ok: true; readonly manifests: readonly Manifest[] }
  | { readonly ok: false; readonly errors: readonly ManifestError[] };

/** For I/O layers that prefer to throw what `parseManifests` returns. */
export class ManifestInvalidError extends Error {
  readonly code = 'manifest-invalid';
  readonly errors: readonly ManifestError[];
  constructor(errors: readonly ManifestError[]) {
    super(`invalid manifests:\n${formatManifestErrors(errors)}`);
    this.name = 'ManifestInvalidError';
    this.errors = errors;
  }
}

/** One `file:line:column: field: message` line per error, in the order given. */
export const formatManifestErrors = (errors: readonly ManifestError[]): string =>
  errors
    .map(
      (e) => `${e.file}:${e.line}:${e.column}: ${e.field === '' ? '' : `${e.field}: `}${e.message}`,
    )
    .join('\n');

// ---- defaults (docs/manifests.md lists them; change both together) -------------------------

export const manifestDefaults = {
  replicas: 1,
  stopGracePeriodMs: 10_000,
  restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
  update: {
    parallelism: 1,
    delayMs: 0,
    order: 'stop-first',
    failureAction: 'pause',
    monitorMs: 5000,
    maxFailureRatio: 0,
  },
  healthcheck: { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 },
  maxReplicasPerNode: 0,
} as const;

// ---- positions and reporting ---------------------------------------------------------------

interface Pos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

interface Ctx {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly errors: ManifestError[];
}

const posAt = (ctx: Ctx, offset: number): Pos => {
  const { line, col } = ctx.lines.linePos(offset);
  return { file: ctx.file, line, column: col };
};

const posOf = (ctx: Ctx, node: YamlNode | null | undefined): Pos =>
  posAt(ctx, node?.range?.[0] ?? ctx.doc.range[0]);

const report = (
  ctx: Ctx,
  at: YamlNode | null | undefined | Pos,
  field: string,
  code: ManifestErrorCode,
  message: string,
): void => {
  const pos = at !== null && at !== undefined && 'file' in at ? at : posOf(ctx, at);
  ctx.errors.push({ ...pos, field, code, message });
};

const where = (p: Pos): string => `${p.file}:${p.line}:${p.column}`;

// ---- reading YAML nodes --------------------------------------------------------------------

/** Aliases are followed (anchors are handy for repeated commands); errors point at the anchor. */
const deref = (ctx: Ctx, node: unknown): YamlNode | null => {
  if (isAlias(node)) return node.resolve(ctx.doc) ?? null;
  return isScalar(node) || isMap(node) || isSeq(node) ? node : null;
};

/** An explicit `null` (or `key:` with nothing) means "not set", as in Kubernetes. */
const isNull = (node: YamlNode | null): boolean =>
  node === null || (isScalar(node) && node.value === null);

const typeName = (node: YamlNode): string => {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    return v === null ? 'null' : typeof v === 'string' ? 'a string' : `a ${typeof v}`;
  }
  return 'something else';
};

interface Entry {
  readonly key: Scalar;
  readonly value: YamlNode;
  readonly field: string;
}

/** A mapping's fields by name; unknown names are reported here, once, with a suggestion. */
class Fields {
  readonly ctx: Ctx;
  readonly node: YAMLMap;
  readonly path: string;
  readonly entries = new Map<string, Entry>();

  constructor(ctx: Ctx, node: YAMLMap, path: string, allowed: readonly string[]) {
    this.ctx = ctx;
    this.node = node;
    this.path = path;
    for (const pair of node.items) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value !== 'string') {
        report(
          ctx,
          key as YamlNode,
          path,
          ManifestErrorCode.WrongType,
          'field names must be strings',
        );
        continue;
      }
      const name = key.value;
      const field = this.child(name);
      if (!allowed.includes(name)) {
        const near = suggest(name, allowed);
        report(
          ctx,
          key,
          field,
          ManifestErrorCode.UnknownField,
          `unknown field "${name}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
        );
        continue;
      }
      const value = deref(ctx, pair.value);
      if (value !== null && !isNull(value)) this.entries.set(name, { key, value, field });
    }
  }

  child(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  get(name: string): Entry | undefined {
    return this.entries.get(name);
  }

  missing(name: string): void {
    report(
      this.ctx,
      this.node,
      this.child(name),
      ManifestErrorCode.MissingField,
      `"${name}" is required`,
    );
  }
}

const asMap = (
  ctx: Ctx,
  node: YamlNode,
  field: string,
  allowed: readonly string[],
): Fields | undefined => {
  if (!isMap(node)) {
    report(
      ctx,
      node,
      field,
      ManifestErrorCode.WrongType,
      `must be a mapping, not ${typeName(node)}`,
    );
    return undefined;
  }
  return new Fields(ctx, node, field, allowed);
};

const subMap = (f: Fields, name: string, allowed: readonly string[]): Fields | undefined => {
  const e = f.get(name);
  return e === undefined ? undefined : asMap(f.ctx, e.value, e.field, allowed);
};

// The raw text of the scalar, so `A: 1.0` suggests "1.0" rather than the parsed 1.
const docText = new WeakMap<Document.Parsed, string>();
const quoteHint = (ctx: Ctx, node: YamlNode): string => {
  const r = node.range;
  const src = r === null || r === undefined ? '' : (docText.get(ctx.doc) ?? '').slice(r[0], r[1]);
  return src === '' ? '' : ` (quote it: "${src}")`;
};

const scalarString = (ctx: Ctx, node: YamlNode, field: string): string | undefined => {
  if (isScalar(node) && typeof node.value === 'string') return node.value;
  const hint = isScalar(node) && node.value !== null ? quoteHint(ctx, node) : '';
  report(
    ctx,
    node,
    field,
    ManifestErrorCode.WrongType,
    `must be a string, not ${typeName(node)}${hint}`,
  );
  return undefined;
};

const str = (f: Fields, name: string): string | undefined => {
  const e = f.get(name);
  return e === undefined ? undefined : scalarString(f.ctx, e.value, e.field);
};

const checked = <T>(f: Fields, name: string, parse: (s: string) => Parsed<T>): T | undefined => {
  const e = f.get(name);
  if (e === undefined) return undefined;
  const s = scalarString(f.ctx, e.value, e.field);
  if (s === undefined) return undefined;
  const r = parse(s);
  if (r.ok) return r.value;
  report(f.ctx, e.value, e.field, ManifestErrorCode.InvalidValue, `"${s}" ${r.reason}`);
  return undefined;
};

const oneOf = <T extends string>(f: Fields, name: string, values: readonly T[]): T | undefined =>
  checked(f, name, (s): Parsed<T> => {
    if ((values as readonly string[]).includes(s)) return { ok: true, value: s as T };
    const near = suggest(s, values);
    return {
      ok: false,
      reason: `is not one of ${values.join(', ')}${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
    };
  });

const scalarNumber = (ctx: Ctx, node: YamlNode, field: string): number | undefined => {
  if (isScalar(node) && typeof node.value === 'number') return node.value;
  report(ctx, node, field, ManifestErrorCode.WrongType, `must be a number, not ${typeName(node)}`);
  return undefined;
};

const int = (
  f: Fields,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined => {
  const e = f.get(name);
  if (e === undefined) return undefined;
  const n = scalarNumber(f.ctx, e.value, e.field);
  if (n === undefined) return undefined;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    report(
      f.ctx,
      e.value,
      e.field,
      ManifestErrorCode.InvalidValue,
      `must be a whole number ${range}, not ${n}`,
    );
    return undefined;
  }
  return n;
};

const bool = (f: Fields, name: string): boolean | undefined => {
  const e = f.get(name);
  if (e === undefined) return undefined;
  if (isScalar(e.value) && typeof e.value.value === 'boolean') return e.value.value;
  report(
    f.ctx,
    e.value,
    e.field,
    ManifestErrorCode.WrongType,
    `must be true or false, not ${typeName(e.value)}`,
  );
  return undefined;
};

const duration = (f: Fields, name: string): number | undefined => {
  const e = f.get(name);
  if (e !== undefined && isScalar(e.value) && e.value.value === 0) return 0;
  if (e !== undefined && isScalar(e.value) && typeof e.value.value === 'number') {
    report(
      f.ctx,
      e.value,
      e.field,
      ManifestErrorCode.InvalidValue,
      `${e.value.value} needs a unit (e.g. 5s, 500ms)`,
    );
    return undefined;
  }
  return checked(f, name, parseDurationMs);
};

const bytes = (f: Fields, name: string): number | undefined => {
  const e = f.get(name);
  if (e !== undefined && isScalar(e.value) && typeof e.value.value === 'number')
    return int(f, name, 1);
  const n = checked(f, name, parseBytes);
  if (n === 0 && e !== undefined) {
    report(f.ctx, e.value, e.field, ManifestErrorCode.InvalidValue, 'must be more than 0 bytes');
    return undefined;
  }
  return n;
};

/** Each item of a list, with its path; reports a non-list. */
const items = (f: Fields, name: string): { node: YamlNode; field: string }[] | undefined => {
  const e = f.get(name);
  if (e === undefined) return undefined;
  if (!isSeq(e.value)) {
    report(
      f.ctx,
      e.value,
      e.field,
      ManifestErrorCode.WrongType,
      `must be a list, not ${typeName(e.value)}`,
    );
    return undefined;
  }
  const out: { node: YamlNode; field: string }[] = [];
  e.value.items.forEach((item, i) => {
    const node = deref(f.ctx, item);
    const field = `${e.field}[${i}]`;
    if (node === null || isNull(node)) {
      report(f.ctx, posOf(f.ctx, e.value), field, ManifestErrorCode.WrongType, 'must not be null');
    } else out.push({ node, field });
  });
  return out;
};

const stringList = (f: Fields, name: string): string[] | undefined => {
  const list = items(f, name);
  if (list === undefined) return undefined;
  return list.map(({ node, field }) => scalarString(f.ctx, node, field) ?? '');
};

/** `{A: "1"}` or `["A=1"]`; the list form is Docker's, the map form is Kubernetes-ish. */
const stringMap = (
  f: Fields,
  name: string,
  checkKey: (k: string) => string | undefined,
): Record<string, string> => {
  // A Map, then fromEntries: assigning `out['__proto__']` on a plain object would drop the key.
  const out = new Map<string, string>();
  const e = f.get(name);
  if (e === undefined) return Object.fromEntries(out);
  if (isSeq(e.value) && name === 'env') {
    for (const { node, field } of items(f, name) ?? []) {
      const s = scalarString(f.ctx, node, field);
      if (s === undefined) continue;
      const eq = s.indexOf('=');
      const key = eq < 0 ? s : s.slice(0, eq);
      const problem = eq < 0 ? 'must be NAME=value' : checkKey(key);
      if (problem !== undefined) {
        report(f.ctx, node, field, ManifestErrorCode.InvalidValue, `"${s}" ${problem}`);
      } else if (out.has(key)) {
        report(f.ctx, node, field, ManifestErrorCode.InvalidValue, `"${key}" is set twice`);
      } else out.set(key, s.slice(eq + 1));
    }
    return Object.fromEntries(out);
  }
  if (!isMap(e.value)) {
    const expected = name === 'env' ? 'a mapping or a list of NAME=value' : 'a mapping';
    report(
      f.ctx,
      e.value,
      e.field,
      ManifestErrorCode.WrongType,
      `must be ${expected}, not ${typeName(e.value)}`,
    );
    return Object.fromEntries(out);
  }
  // Any key is allowed here, so pairs are read directly rather than through `Fields`.
  for (const pair of e.value.items) {
    const key = pair.key;
    if (!isScalar(key) || typeof key.value !== 'string') continue;
    const field = `${e.field}.${key.value}`;
    const problem = checkKey(key.value);
    if (problem !== undefined) {
      report(f.ctx, key, field, ManifestErrorCode.InvalidValue, `"${key.value}" ${problem}`);
      continue;
    }
    const value = deref(f.ctx, pair.value);
    if (value === null || isNull(value)) out.set(key.value, '');
    else {
      const s = scalarString(f.ctx, value, field);
      if (s !== undefined) out.set(key.value, s);
    }
  }
  return Object.fromEntries(out);
};

const envKey = (k: string): string | undefined =>
  k === '' ? 'has an empty name' : /[=\0]/.test(k) ? 'has a name with "=" or NUL in it' : undefined;

const labelKey = (k: string): string | undefined =>
  /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/.test(k)
    ? undefined
    : 'is not a label key (letters, digits, ".", "_", "-", "/"; alphanumeric at both ends; ≤ 253)';

// ---- the schema ----------------------------------------------------------------------------

const topFields = ['apiVersion', 'kind', 'metadata', 'spec'] as const;
const metadataFields = ['name', 'labels'] as const;
const serviceFields = [
  'image',
  'command',
  'args',
  'env',
  'workdir',
  'user',
  'readOnlyRootfs',
  'mounts',
  'userNamespace',
  'stopGracePeriod',
  'ports',
  'resources',
  'networks',
  'placement',
  'restartPolicy',
  'healthcheck',
  'update',
  'mode',
  'replicas',
] as const;
const networkFields = ['driver', 'subnet', 'attachable'] as const;

/** What cross-document checks need to point back at. */
interface Found {
  readonly manifest: Manifest;
  readonly nameAt: Pos;
  readonly networkRefs: readonly { name: string; at: Pos; field: string }[];
  readonly published: readonly { port: number; protocol: string; at: Pos; field: string }[];
  readonly subnet?: { cidr: string; base: number; size: number; at: Pos };
}

const opt = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

const readResources = (f: Fields | undefined, withPids: boolean): Resources => {
  if (f === undefined) return {};
  const cpus = (() => {
    const e = f.get('cpus');
    if (e === undefined) return undefined;
    const n = scalarNumber(f.ctx, e.value, e.field);
    if (n !== undefined && !(n > 0 && Number.isFinite(n))) {
      report(f.ctx, e.value, e.field, ManifestErrorCode.InvalidValue, `${n} must be more than 0`);
      return undefined;
    }
    return n;
  })();
  return {
    ...opt('cpus', cpus),
    ...opt('memoryBytes', bytes(f, 'memory')),
    ...opt('pids', withPids ? int(f, 'pids', 1) : undefined),
  };
};

const readHealthcheck = (f: Fields | undefined): Healthcheck | undefined => {
  if (f === undefined) return undefined;
  const d = manifestDefaults.healthcheck;
  const command = stringList(f, 'command');
  if (command === undefined) f.missing('command');
  else if (command.length === 0) {
    report(
      f.ctx,
      f.get('command')!.value,
      f.child('command'),
      ManifestErrorCode.InvalidValue,
      'must not be empty',
    );
  }
  const positive = (name: string, v: number | undefined): number | undefined => {
    if (v === 0)
      report(
        f.ctx,
        f.get(name)!.value,
        f.child(name),
        ManifestErrorCode.InvalidValue,
        'must be more than 0',
      );
    return v;
  };
  return {
    command: command ?? [],
    intervalMs: positive('interval', duration(f, 'interval')) ?? d.intervalMs,
    timeoutMs: positive('timeout', duration(f, 'timeout')) ?? d.timeoutMs,
    retries: int(f, 'retries', 1) ?? d.retries,
    startPeriodMs: duration(f, 'startPeriod') ?? d.startPeriodMs,
  };
};

const parseFailureAction = (s: string): Parsed<UpdateFailureAction> => {
  if (s === 'pause' || s === 'continue') return { ok: true, value: s };
  // Swarm's third action; accepted only once the orchestrator can roll back.
  if (s === 'rollback')
    return { ok: false, reason: 'is not supported yet (use pause or continue)' };
  const near = suggest(s, ['pause', 'continue']);
  return {
    ok: false,
    reason: `is not one of pause, continue${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
  };
};

/** A fraction from 0 to 1. */
const ratio = (f: Fields, name: string): number | undefined => {
  const e = f.get(name);
  if (e === undefined) return undefined;
  const n = scalarNumber(f.ctx, e.value, e.field);
  if (n === undefined) return undefined;
  if (!(n >= 0 && n <= 1)) {
    report(f.ctx, e.value, e.field, ManifestErrorCode.InvalidValue, `${n} must be from 0 to 1`);
    return undefined;
  }
  return n;
};

const spreadKey = /^(node|engine)\.labels\.[^\s=!]+$/;

/** `preferences: [{spread: node.labels.zone}, …]`, in order (each level splits the one before). */
const readPreferences = (placement: Fields): PlacementPreference[] => {
  const out: PlacementPreference[] = [];
  for (const { node, field } of items(placement, 'preferences') ?? []) {
    const f = asMap(placement.ctx, node, field, ['spread']);
    if (f === undefined) continue;
    const spread = str(f, 'spread');
    if (f.get('spread') === undefined) f.missing('spread');
    if (spread === undefined) continue;
    if (!spreadKey.test(spread)) {
      report(
        f.ctx,
        f.get('spread')!.value,
        f.child('spread'),
        ManifestErrorCode.InvalidValue,
        `"${spread}" must be node.labels.<name> or engine.labels.<name>`,
      );
      continue;
    }
    out.push({ spread });
  }
  return out;
};

const readService = (
  ctx: Ctx,
  spec: Fields,
): { spec: ServiceSpec; networkRefs: Found['networkRefs']; published: Found['published'] } => {
  const image = str(spec, 'image');
  if (spec.get('image') === undefined) spec.missing('image');
  else if (image !== undefined && (image === '' || /\s/.test(image))) {
    report(
      ctx,
      spec.get('image')!.value,
      'spec.image',
      ManifestErrorCode.InvalidValue,
      `"${image}" is not an image reference`,
    );
  }
  const command = stringList(spec, 'command');
  if (command !== undefined && command.length === 0) {
    report(
      ctx,
      spec.get('command')!.value,
      'spec.command',
      ManifestErrorCode.InvalidValue,
      "must not be empty (leave it out to use the image's entrypoint)",
    );
  }
  const workdir = str(spec, 'workdir');
  if (workdir !== undefined && !workdir.startsWith('/')) {
    report(
      ctx,
      spec.get('workdir')!.value,
      'spec.workdir',
      ManifestErrorCode.InvalidValue,
      `"${workdir}" is not an absolute path`,
    );
  }
  // A numeric uid is common enough (`user: 1000`) to accept unquoted.
  const userEntry = spec.get('user');
  const user =
    userEntry !== undefined &&
    isScalar(userEntry.value) &&
    typeof userEntry.value.value === 'number'
      ? String(int(spec, 'user', 0) ?? '')
      : str(spec, 'user');
  if (user === '')
    report(ctx, userEntry?.value, 'spec.user', ManifestErrorCode.InvalidValue, 'must not be empty');

  const mounts: BindMount[] = [];
  for (const { node, field } of items(spec, 'mounts') ?? []) {
    const m = asMap(ctx, node, field, ['type', 'source', 'target', 'readOnly']);
    if (m === undefined) continue;
    oneOf(m, 'type', ['bind'] as const);
    const paths: Partial<Record<'source' | 'target', string>> = {};
    for (const key of ['source', 'target'] as const) {
      const v = str(m, key);
      if (m.get(key) === undefined) m.missing(key);
      else if (v !== undefined && !v.startsWith('/'))
        report(
          ctx,
          m.get(key)!.value,
          m.child(key),
          ManifestErrorCode.InvalidValue,
          'must be an absolute path',
        );
      else if (v !== undefined && v.split('/').includes('..'))
        report(
          ctx,
          m.get(key)!.value,
          m.child(key),
          ManifestErrorCode.InvalidValue,
          'must not contain ".."',
        );
      else if (v !== undefined) paths[key] = v;
    }
    if (paths.source !== undefined && paths.target !== undefined)
      mounts.push({
        source: paths.source,
        target: paths.target,
        readOnly: bool(m, 'readOnly') ?? false,
      });
  }

  const healthcheck = readHealthcheck(
    subMap(spec, 'healthcheck', ['command', 'interval', 'timeout', 'retries', 'startPeriod']),
  );
  const container: ContainerSpec = {
    image: image ?? '',
    ...opt('command', command),
    ...opt('args', stringList(spec, 'args')),
    env: stringMap(spec, 'env', envKey),
    ...opt('workdir', workdir),
    ...opt('user', user),
    readOnlyRootfs: bool(spec, 'readOnlyRootfs') ?? false,
    ...opt('mounts', mounts.length === 0 ? undefined : mounts),
    ...opt('userNamespace', bool(spec, 'userNamespace')),
    stopGracePeriodMs: duration(spec, 'stopGracePeriod') ?? manifestDefaults.stopGracePeriodMs,
    ...opt('healthcheck', healthcheck),
  };

  const modeName = oneOf(spec, 'mode', ['replicated', 'global'] as const) ?? 'replicated';
  const replicas = int(spec, 'replicas', 0);
  if (modeName === 'global' && spec.get('replicas') !== undefined) {
    report(
      ctx,
      spec.get('replicas')!.key,
      'spec.replicas',
      ManifestErrorCode.Conflict,
      'a global service runs one task per node: remove replicas',
    );
  }

  const ports: PortSpec[] = [];
  const published: { port: number; protocol: string; at: Pos; field: string }[] = [];
  for (const { node, field } of items(spec, 'ports') ?? []) {
    const p = asMap(ctx, node, field, ['target', 'published', 'protocol']);
    if (p === undefined) continue;
    const target = int(p, 'target', 1, 65535);
    if (p.get('target') === undefined) p.missing('target');
    const pub = int(p, 'published', 1, 65535);
    const protocol = oneOf(p, 'protocol', ['tcp', 'udp'] as const) ?? 'tcp';
    ports.push({ target: target ?? 0, ...opt('published', pub), protocol });
    if (pub !== undefined) {
      published.push({
        port: pub,
        protocol,
        at: posOf(ctx, p.get('published')!.value),
        field: p.child('published'),
      });
    }
  }

  const res = subMap(spec, 'resources', ['limits', 'reservations']);
  const limitsF = res === undefined ? undefined : subMap(res, 'limits', ['cpus', 'memory', 'pids']);
  const reservationsF =
    res === undefined ? undefined : subMap(res, 'reservations', ['cpus', 'memory']);
  const limits = readResources(limitsF, true);
  const reservations = readResources(reservationsF, false);
  for (const [key, name] of [
    ['cpus', 'cpus'],
    ['memoryBytes', 'memory'],
  ] as const) {
    const l = limits[key];
    const r = reservations[key];
    if (l !== undefined && r !== undefined && r > l) {
      report(
        ctx,
        reservationsF!.get(name)!.value,
        reservationsF!.child(name),
        ManifestErrorCode.Conflict,
        `reserves more than the limit (${String(limitsF!.get(name)!.value)})`,
      );
    }
  }

  const networkRefs: { name: string; at: Pos; field: string }[] = [];
  const networks: string[] = [];
  for (const { node, field } of items(spec, 'networks') ?? []) {
    const name = scalarString(ctx, node, field);
    if (name === undefined) continue;
    if (networks.includes(name)) {
      report(ctx, node, field, ManifestErrorCode.InvalidValue, `network "${name}" is listed twice`);
      continue;
    }
    networks.push(name);
    networkRefs.push({ name, at: posOf(ctx, node), field });
  }

  const placementF = subMap(spec, 'placement', [
    'constraints',
    'maxReplicasPerNode',
    'preferences',
  ]);
  const preferences = placementF === undefined ? [] : readPreferences(placementF);
  const constraints: string[] = [];
  if (placementF !== undefined) {
    for (const { node, field } of items(placementF, 'constraints') ?? []) {
      const s = scalarString(ctx, node, field);
      if (s === undefined) continue;
      const c = parseConstraint(s);
      if (c.ok) constraints.push(s);
      else report(ctx, node, field, ManifestErrorCode.InvalidValue, c.error.message);
    }
  }

  const restartF = subMap(spec, 'restartPolicy', ['condition', 'delay', 'maxAttempts', 'window']);
  const rd = manifestDefaults.restartPolicy;
  const updateF = subMap(spec, 'update', [
    'parallelism',
    'delay',
    'order',
    'failureAction',
    'monitor',
    'maxFailureRatio',
  ]);
  const ud = manifestDefaults.update;

  return {
    spec: {
      container,
      mode:
        modeName === 'global'
          ? { type: 'global' }
          : { type: 'replicated', replicas: replicas ?? manifestDefaults.replicas },
      ports,
      resources: { limits, reservations },
      networks,
      placement: {
        constraints,
        maxReplicasPerNode:
          (placementF && int(placementF, 'maxReplicasPerNode', 0)) ??
          manifestDefaults.maxReplicasPerNode,
        // Only when given, so specs stored before preferences existed compare equal.
        ...(preferences.length === 0 ? {} : { preferences }),
      },
      restartPolicy: {
        condition:
          (restartF &&
            oneOf<RestartCondition>(restartF, 'condition', ['none', 'on-failure', 'any'])) ??
          rd.condition,
        delayMs: (restartF && duration(restartF, 'delay')) ?? rd.delayMs,
        maxAttempts: (restartF && int(restartF, 'maxAttempts', 0)) ?? rd.maxAttempts,
        windowMs: (restartF && duration(restartF, 'window')) ?? rd.windowMs,
      },
      update: {
        parallelism: (updateF && int(updateF, 'parallelism', 0)) ?? ud.parallelism,
        delayMs: (updateF && duration(updateF, 'delay')) ?? ud.delayMs,
        order:
          (updateF && oneOf(updateF, 'order', ['stop-first', 'start-first'] as const)) ?? ud.order,
        failureAction:
          (updateF && checked(updateF, 'failureAction', parseFailureAction)) ?? ud.failureAction,
        monitorMs: (updateF && duration(updateF, 'monitor')) ?? ud.monitorMs,
        maxFailureRatio: (updateF && ratio(updateF, 'maxFailureRatio')) ?? ud.maxFailureRatio,
      },
    },
    networkRefs,
    published,
  };
};

/** `10.10.0.0/24` → base address as a number and block size; prefixes /8 to /30 leave room for hosts. */
export const parseSubnet = (text: string): Parsed<{ base: number; size: number }> => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (m === null) return { ok: false, reason: 'is not an IPv4 CIDR (e.g. 10.10.0.0/24)' };
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255)) return { ok: false, reason: 'has an octet above 255' };
  if (prefix < 8 || prefix > 30)
    return { ok: false, reason: 'needs a prefix length from /8 to /30' };
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  if (base !== addr) {
    const b = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.');
    return { ok: false, reason: `has host bits set (did you mean ${b}/${prefix}?)` };
  }
  return { ok: true, value: { base, size } };
};

const readNetwork = (
  spec: Fields | undefined,
): { spec: Network['spec']; subnet?: Found['subnet'] } => {
  if (spec === undefined) return { spec: { driver: 'overlay', attachable: false } };
  const driver = oneOf(spec, 'driver', ['overlay'] as const) ?? 'overlay';
  const cidr = checked(spec, 'subnet', parseSubnet);
  const subnet = str(spec, 'subnet');
  return {
    spec: { driver, ...opt('subnet', subnet), attachable: bool(spec, 'attachable') ?? false },
    ...(cidr === undefined || subnet === undefined
      ? {}
      : { subnet: { cidr: subnet, ...cidr, at: posOf(spec.ctx, spec.get('subnet')!.value) } }),
  };
};

const readDocument = (ctx: Ctx): Found | undefined => {
  const contents = ctx.doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return undefined; // empty document
  const top = asMap(ctx, contents, '', topFields);
  if (top === undefined) return undefined;
  const line = posOf(ctx, contents).line;

  const version = str(top, 'apiVersion');
  if (top.get('apiVersion') === undefined) top.missing('apiVersion');
  else if (version !== undefined && version !== apiVersion) {
    report(
      ctx,
      top.get('apiVersion')!.value,
      'apiVersion',
      ManifestErrorCode.InvalidValue,
      `"${version}" is not supported; use ${apiVersion}`,
    );
  }
  const kind = oneOf(top, 'kind', Object.values(ManifestKind));
  if (top.get('kind') === undefined) top.missing('kind');

  const metadata = subMap(top, 'metadata', metadataFields);
  if (top.get('metadata') === undefined) top.missing('metadata');
  let name = '';
  let nameAt = posOf(ctx, contents);
  if (metadata !== undefined) {
    name = checked(metadata, 'name', checkName) ?? '';
    if (metadata.get('name') === undefined) metadata.missing('name');
    else nameAt = posOf(ctx, metadata.get('name')!.value);
  }
  const labels = metadata === undefined ? {} : stringMap(metadata, 'labels', labelKey);
  const base = { file: ctx.file, line, name, labels };

  if (kind === 'Service') {
    const specF = subMap(top, 'spec', serviceFields);
    if (top.get('spec') === undefined) top.missing('spec');
    if (specF === undefined) return undefined;
    const s = readService(ctx, specF);
    return {
      manifest: { kind, ...base, spec: s.spec },
      nameAt,
      networkRefs: s.networkRefs,
      published: s.published,
    };
  }
  if (kind === 'Network') {
    const specF = subMap(top, 'spec', networkFields);
    const n = readNetwork(specF);
    return {
      manifest: { kind, ...base, spec: n.spec },
      nameAt,
      networkRefs: [],
      published: [],
      ...opt('subnet', n.subnet),
    };
  }
  return undefined;
};

// ---- across documents ----------------------------------------------------------------------

const checkAcross = (
  found: readonly Found[],
  options: ParseOptions,
  errors: ManifestError[],
): void => {
  const push = (at: Pos, field: string, code: ManifestErrorCode, message: string): void => {
    errors.push({ ...at, field, code, message });
  };
  const byName = new Map<string, Found>();
  for (const f of found) {
    const key = `${f.manifest.kind}/${f.manifest.name}`;
    const first = byName.get(key);
    if (first === undefined) {
      byName.set(key, f);
      continue;
    }
    const what = `${f.manifest.kind} "${f.manifest.name}"`;
    // Both places are reported: either may be the one to rename.
    push(
      first.nameAt,
      'metadata.name',
      ManifestErrorCode.DuplicateName,
      `${what} is also defined at ${where(f.nameAt)}`,
    );
    push(
      f.nameAt,
      'metadata.name',
      ManifestErrorCode.DuplicateName,
      `${what} is also defined at ${where(first.nameAt)}`,
    );
  }

  const networks = new Set(
    found.filter((f) => f.manifest.kind === 'Network').map((f) => f.manifest.name),
  );
  const known = [...networks, ...(options.existingNetworks ?? [])];
  const ports = new Map<string, { service: string; at: Pos }>();
  for (const f of found) {
    for (const ref of f.networkRefs) {
      if (networks.has(ref.name) || options.existingNetworks?.has(ref.name) === true) continue;
      const near = suggest(ref.name, known);
      push(
        ref.at,
        ref.field,
        ManifestErrorCode.UnknownNetwork,
        `network "${ref.name}" is not defined here or in the cluster${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
      );
    }
    for (const p of f.published) {
      const key = `${p.port}/${p.protocol}`;
      const first = ports.get(key);
      if (first === undefined) ports.set(key, { service: f.manifest.name, at: p.at });
      else
        push(
          p.at,
          p.field,
          ManifestErrorCode.Conflict,
          `port ${key} is already published by service "${first.service}" at ${where(first.at)}`,
        );
    }
  }

  const subnets = found.flatMap((f) =>
    f.subnet === undefined ? [] : [{ name: f.manifest.name, ...f.subnet }],
  );
  subnets.forEach((s, i) => {
    const clash = subnets
      .slice(0, i)
      .find((o) => s.base < o.base + o.size && o.base < s.base + s.size);
    if (clash !== undefined) {
      push(
        s.at,
        'spec.subnet',
        ManifestErrorCode.Conflict,
        `${s.cidr} overlaps ${clash.cidr} of network "${clash.name}" at ${where(clash.at)}`,
      );
    }
  });
};

/**
 * Parses and validates every document of every source. All errors are collected (syntax errors
 * stop only their own document); any error means no manifests at all.
 */
export const parseManifests = (
  sources: readonly ManifestSource[],
  options: ParseOptions = {},
): ParseResult => {
  const errors: ManifestError[] = [];
  const found: Found[] = [];
  for (const { file, text } of sources) {
    const lines = new LineCounter();
    const docs = parseAllDocuments(text, {
      lineCounter: lines,
      keepSourceTokens: true,
      prettyErrors: false,
      uniqueKeys: true,
    });
    for (const doc of docs) {
      docText.set(doc, text);
      const ctx: Ctx = { file, doc, lines, errors };
      if (doc.errors.length > 0) {
        for (const e of doc.errors)
          report(ctx, posAt(ctx, e.pos[0]), '', ManifestErrorCode.Syntax, e.message);
        continue;
      }
      const f = readDocument(ctx);
      if (f !== undefined) found.push(f);
    }
  }
  checkAcross(found, options, errors);
  if (errors.length > 0) {
    // Reading order (files as given, then position) rather than the order the checks ran in.
    const fileIndex = new Map(sources.map((s, i) => [s.file, i] as const));
    const rank = (e: ManifestError): number => fileIndex.get(e.file) ?? sources.length;
    errors.sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.column - b.column);
    return { ok: false, errors };
  }
  return { ok: true, manifests: found.map((f) => f.manifest) };
};
