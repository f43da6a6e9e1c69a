// The control API (proto/control.proto) over the replicated store: reads from the local
// MemoryStore, writes as store transactions through the StoreWriter. Every spec a client sends is
// validated by the manifest validator (common/manifest), the same code the CLI runs, so nothing
// reaches the store that a manifest could not have said. Errors become gRPC statuses only in
// errors.ts. This class answers as if it were the leader; forward.ts sends writes to the leader.
// Service image tags are resolved to digests before a write is built (image-pinning.ts).
import {
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  ManifestInvalidError,
  parseManifests,
  type Manifest,
  type NetworkManifest,
  type ServiceManifest,
} from '../../common/manifest/parse.js';
import { jsonEqual } from '../../common/json-equal.js';
import { renderManifests } from '../../common/manifest/render.js';
import { storedAsWritten, withImage } from '../../common/image/pin.js';
import {
  canMoveTo,
  NodeAvailability,
  NodeState,
  TaskState,
  taskStateRank,
  type Meta,
  type Network,
  type NetworkId,
  type ObjectKind,
  type Service,
  type ServiceId,
  type ServiceSpec,
  updateConfigDefaults,
} from '../../common/model.js';
import {
  canonicalJson,
  changeId,
  objectKinds,
  update,
  type Change,
  type FindBy,
  type MemoryStore,
  type ObjectsByKind,
  type StoreEvent,
  type StoreWriter,
  type Transaction,
  type TransactionOutcome,
} from '../store/index.js';
import type * as pb from '../../proto/gen/control.js';
import { ControlError, fromRefusal, toStatus } from './errors.js';
import {
  pinSpec,
  resolveAll,
  type ImageResolver,
  type ResolveImageOutcome,
} from './image-pinning.js';

export interface ControlServerDeps {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  /** Only for values the store does not stamp itself (none yet; kept for task timestamps). */
  readonly now: () => number;
  /** A fresh object id (random, unique). */
  readonly newId: () => string;
  /**
   * Pins service images to digests on create and on spec changes (image-pinning.ts). Absent:
   * images are stored as written.
   */
  readonly resolveImage?: ImageResolver | undefined;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged';

const REQUEST_FILE = '<request>';

const json = (o: unknown): string => JSON.stringify(o);

const parseJson = (text: string, what: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ControlError('invalid', `${what}: not valid JSON: ${(e as Error).message}`);
  }
};

/**
 * Replicas do not count: scaling alone must not make the orchestrator replace every task. Update
 * settings compare with their defaults filled in, so a service stored before a setting existed
 * does not look changed (and roll every task) the first time it is applied again.
 */
const specWithoutReplicas = (s: ServiceSpec): string =>
  canonicalJson({
    ...s,
    mode: s.mode.type === 'replicated' ? { type: 'replicated' } : s.mode,
    update: { ...updateConfigDefaults, ...s.update },
  });

export const specChanged = (a: ServiceSpec, b: ServiceSpec): boolean =>
  specWithoutReplicas(a) !== specWithoutReplicas(b);

/**
 * Whether writing `next` over `prev` (none: a create) rolls tasks, and so re-resolves the tag (a
 * moved tag rolls out, as `docker service update` does). Our pin alone is no change.
 */
const needsPin = (prev: ServiceSpec | undefined, next: ServiceSpec): boolean =>
  prev === undefined || specChanged(storedAsWritten(prev, next.container.image), next);

/** The spec stored for `next` over `prev`: pinned afresh if it rolls tasks, else the stored digest kept. */
const specToStore = (
  prev: ServiceSpec,
  next: ServiceSpec,
  pins: ReadonlyMap<string, ResolveImageOutcome>,
): { spec: ServiceSpec; warning: string | undefined } =>
  needsPin(prev, next)
    ? pinSpec(next, pins)
    : { spec: withImage(next, prev.container.image), warning: undefined };

/** Bytes of event JSON per Watch message: well under gRPC's default 4 MiB receive limit. */
const watchMessageBytes = 1024 * 1024;

/** A batch of store events as Watch messages, in order, each under watchMessageBytes. */
export const watchMessages = (batch: readonly StoreEvent[]): pb.WatchEvent[][] => {
  const out: pb.WatchEvent[][] = [];
  let current: pb.WatchEvent[] = [];
  let bytes = 0;
  for (const e of batch) {
    const objectJson = json(e.object);
    if (current.length > 0 && bytes + objectJson.length > watchMessageBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ type: e.type, kind: e.kind, version: e.version, objectJson });
    bytes += objectJson.length;
  }
  if (current.length > 0) out.push(current);
  return out;
};

/** The service as it becomes with a new spec and labels; specVersion moves only with the spec. */
export const nextService = (
  prev: Service,
  spec: ServiceSpec,
  labels: Readonly<Record<string, string>>,
): Service => {
  const changed = specChanged(prev.spec, spec);
  return {
    meta: { ...prev.meta, labels },
    spec,
    specVersion: changed ? prev.specVersion + 1 : prev.specVersion,
    // The orchestrator's record of a rollout: a scale must not erase a paused update's state.
    ...(prev.updateStatus === undefined ? {} : { updateStatus: prev.updateStatus }),
    ...(changed
      ? { previousSpec: prev.spec }
      : prev.previousSpec === undefined
        ? {}
        : { previousSpec: prev.previousSpec }),
  };
};

const newMeta = <Id extends string>(
  id: Id,
  name: string,
  labels: Readonly<Record<string, string>>,
) => ({ id, name, version: 0, createdAt: 0, updatedAt: 0, labels: { ...labels } });

export class ControlServer {
  private readonly deps: ControlServerDeps;

  constructor(deps: ControlServerDeps) {
    this.deps = deps;
  }

  /** The grpc-js implementation, for `server.addService(ControlServiceService, …)`. */
  handlers(): pb.ControlServiceServer {
    return {
      createService: unary((r: pb.CreateServiceRequest) => this.createService(r)),
      updateService: unary((r: pb.UpdateServiceRequest) => this.updateService(r)),
      getService: unary((r: pb.GetServiceRequest) =>
        Promise.resolve({ serviceJson: json(this.resolve('service', r.service)) }),
      ),
      listServices: unary(() =>
        Promise.resolve({
          servicesJson: this.sorted('service').map(json),
          version: this.deps.store.version,
        }),
      ),
      removeService: unary((r: pb.RemoveServiceRequest) => this.removeService(r)),
      scale: unary((r: pb.ScaleRequest) => this.scale(r)),
      createNetwork: unary((r: pb.CreateNetworkRequest) => this.createNetwork(r)),
      listNetworks: unary(() =>
        Promise.resolve({
          networksJson: this.sorted('network').map(json),
          version: this.deps.store.version,
        }),
      ),
      removeNetwork: unary((r: pb.RemoveNetworkRequest) => this.removeNetwork(r)),
      listTasks: unary((r: pb.ListTasksRequest) => Promise.resolve(this.listTasks(r))),
      getTask: unary((r: pb.GetTaskRequest) =>
        Promise.resolve({ taskJson: json(this.resolve('task', r.task)) }),
      ),
      listNodes: unary(() =>
        Promise.resolve({
          nodesJson: this.sorted('node').map(json),
          version: this.deps.store.version,
        }),
      ),
      getNode: unary((r: pb.GetNodeRequest) =>
        Promise.resolve({ nodeJson: json(this.resolve('node', r.node)) }),
      ),
      updateNode: unary((r: pb.UpdateNodeRequest) => this.updateNode(r)),
      removeNode: unary((r: pb.RemoveNodeRequest) => this.removeNode(r)),
      apply: unary((r: pb.ApplyRequest) => this.apply(r)),
      watch: (call: ServerWritableStream<pb.WatchRequest, pb.WatchResponse>) => {
        void this.watch(call);
      },
    };
  }

  // ---- services -------------------------------------------------------------------------------

  async createService(r: pb.CreateServiceRequest): Promise<pb.CreateServiceResponse> {
    const m = this.validateService(r.name, r.labels, r.specJson);
    const pinned = pinSpec(m.spec, await this.resolvePins([m.spec.container.image]));
    const service: Service = {
      meta: newMeta(this.deps.newId() as ServiceId, m.name, m.labels),
      spec: pinned.spec,
      specVersion: 1,
    };
    const o = await this.submit([{ op: 'create', kind: 'service', object: service }]);
    return {
      serviceJson: json(o.objects[0]!.object),
      warnings: warningsOf(m.name, pinned.warning),
    };
  }

  async updateService(r: pb.UpdateServiceRequest): Promise<pb.UpdateServiceResponse> {
    if (r.version === 0) throw new ControlError('invalid', 'update service: version is required');
    const prev = this.resolve('service', r.service);
    const labels = r.setLabels ? r.labels : prev.meta.labels;
    const m = this.validateService(prev.meta.name, labels, r.specJson);
    const pins = await this.resolvePins(
      needsPin(prev.spec, m.spec) ? [m.spec.container.image] : [],
    );
    const { spec, warning } = specToStore(prev.spec, m.spec, pins);
    const next = nextService(prev, spec, m.labels);
    const o = await this.submit([
      {
        op: 'update',
        kind: 'service',
        object: { ...next, meta: { ...next.meta, version: r.version } },
      },
    ]);
    return { serviceJson: json(o.objects[0]!.object), warnings: warningsOf(m.name, warning) };
  }

  /**
   * Deletes the service and, in the same transaction, sets every task of it still meant to run to
   * desired state shutdown: the agents stop them at once, without waiting for the orchestrator
   * (which treats tasks of a missing service the same way, so this is a shortcut, not the only path).
   */
  async removeService(r: pb.RemoveServiceRequest): Promise<pb.RemoveServiceResponse> {
    const o = await this.update((store) => {
      const s = this.resolve('service', r.service);
      const tx: Change[] = [];
      for (const t of store.find('task', { serviceId: s.meta.id })) {
        if (taskStateRank(t.desiredState) < taskStateRank(TaskState.Shutdown)) {
          tx.push({
            op: 'update',
            kind: 'task',
            object: { ...t, desiredState: TaskState.Shutdown },
          });
        }
      }
      tx.push({
        op: 'delete',
        kind: 'service',
        id: s.meta.id,
        version: r.version === 0 ? s.meta.version : r.version,
      });
      return tx;
    });
    return { version: o.version };
  }

  /** Absolute replica counts, so retrying on a conflict is safe; all services or none. */
  async scale(r: pb.ScaleRequest): Promise<pb.ScaleResponse> {
    const entries = Object.entries(r.replicas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (entries.length === 0) throw new ControlError('invalid', 'scale: no services given');
    const o = await this.update(() =>
      entries.map(([ref, replicas]): Change => {
        const s = this.resolve('service', ref);
        if (s.spec.mode.type !== 'replicated') {
          throw new ControlError(
            'failed-precondition',
            `service ${s.meta.name} is global (one task per node): it cannot be scaled`,
          );
        }
        const spec: ServiceSpec = { ...s.spec, mode: { type: 'replicated', replicas } };
        return { op: 'update', kind: 'service', object: { ...s, spec } };
      }),
    );
    return { servicesJson: o.objects.map((x) => json(x.object)) };
  }

  // ---- networks -------------------------------------------------------------------------------

  async createNetwork(r: pb.CreateNetworkRequest): Promise<pb.CreateNetworkResponse> {
    const spec = parseJson(r.specJson, 'network spec') as Network['spec'];
    const m = this.validate({
      kind: 'Network',
      file: REQUEST_FILE,
      line: 1,
      name: r.name,
      labels: r.labels,
      spec,
    }) as NetworkManifest;
    const network: Network = {
      meta: newMeta(this.deps.newId() as NetworkId, m.name, m.labels),
      spec: m.spec,
    };
    const o = await this.submit([{ op: 'create', kind: 'network', object: network }]);
    return { networkJson: json(o.objects[0]!.object) };
  }

  /**
   * Refused while a service names the network. Checked here, not at apply time: a service
   * created concurrently can still slip past (the store checks only task → service references).
   */
  async removeNetwork(r: pb.RemoveNetworkRequest): Promise<pb.RemoveNetworkResponse> {
    const o = await this.update((store) => {
      const n = this.resolve('network', r.network);
      const users = store
        .list('service')
        .filter((s) => s.spec.networks.includes(n.meta.name))
        .map((s) => s.meta.name)
        .sort();
      if (users.length > 0) {
        throw new ControlError(
          'failed-precondition',
          `network ${n.meta.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}`,
        );
      }
      return [
        {
          op: 'delete',
          kind: 'network',
          id: n.meta.id,
          version: r.version === 0 ? n.meta.version : r.version,
        },
      ];
    });
    return { version: o.version };
  }

  // ---- tasks and nodes ------------------------------------------------------------------------

  listTasks(r: pb.ListTasksRequest): pb.ListTasksResponse {
    const states: readonly string[] = Object.values(TaskState);
    if (r.desiredState !== '' && !states.includes(r.desiredState)) {
      throw new ControlError(
        'invalid',
        `desired state ${r.desiredState} is not one of ${states.join(', ')}`,
      );
    }
    const by: FindBy = {
      ...(r.service === '' ? {} : { serviceId: this.resolve('service', r.service).meta.id }),
      ...(r.node === '' ? {} : { nodeId: this.resolve('node', r.node).meta.id }),
      ...(r.desiredState === '' ? {} : { desiredState: r.desiredState as TaskState }),
    };
    const tasks = this.deps.store.find('task', by).sort(byName);
    return { tasksJson: tasks.map(json), version: this.deps.store.version };
  }

  async updateNode(r: pb.UpdateNodeRequest): Promise<pb.UpdateNodeResponse> {
    if (r.version === 0) throw new ControlError('invalid', 'update node: version is required');
    const prev = this.resolve('node', r.node);
    const availabilities: readonly string[] = Object.values(NodeAvailability);
    if (r.availability !== '' && !availabilities.includes(r.availability)) {
      throw new ControlError(
        'invalid',
        `availability ${r.availability} is not one of ${availabilities.join(', ')}`,
      );
    }
    const spec = {
      ...prev.spec,
      ...(r.availability === '' ? {} : { availability: r.availability as NodeAvailability }),
      ...(r.setLabels ? { labels: { ...r.labels } } : {}),
    };
    const o = await this.submit([
      {
        op: 'update',
        kind: 'node',
        object: { ...prev, meta: { ...prev.meta, version: r.version }, spec },
      },
    ]);
    return { nodeJson: json(o.objects[0]!.object) };
  }

  /**
   * Deletes a node that is down (or any, with force). Its unfinished tasks become orphaned in the
   * same transaction — what the dispatcher does for a node that goes down — so the orchestrator
   * replaces them; without it, replicated tasks on a vanished node would count as running forever
   * (the orchestrator does not react to node deletions for replicated services).
   */
  async removeNode(r: pb.RemoveNodeRequest): Promise<pb.RemoveNodeResponse> {
    const o = await this.update((store) => {
      const n = this.resolve('node', r.node);
      if (!r.force && n.status.state !== NodeState.Down) {
        throw new ControlError(
          'failed-precondition',
          `node ${n.meta.name} is ${n.status.state}, not down: stop its agent first, drain it, or remove it with force`,
        );
      }
      const now = this.deps.now();
      const tx: Change[] = [];
      for (const t of store.find('task', { nodeId: n.meta.id })) {
        if (!canMoveTo(t.status.state, TaskState.Orphaned)) continue;
        tx.push({
          op: 'update',
          kind: 'task',
          object: {
            ...t,
            status: { state: TaskState.Orphaned, timestamp: now, message: 'node removed' },
          },
        });
      }
      tx.push({
        op: 'delete',
        kind: 'node',
        id: n.meta.id,
        version: r.version === 0 ? n.meta.version : r.version,
      });
      return tx;
    });
    return { version: o.version };
  }

  // ---- apply ----------------------------------------------------------------------------------

  /**
   * Validates everything first (nothing is written if anything is wrong), then writes every
   * create and update in one transaction; on a conflict the plan is made again on the newer state.
   */
  async apply(r: pb.ApplyRequest): Promise<pb.ApplyResponse> {
    if (r.sources.length === 0) throw new ControlError('invalid', 'apply: no manifests given');
    const parsed = parseManifests(r.sources, { existingNetworks: this.networkNames() });
    if (!parsed.ok) throw new ManifestInvalidError(parsed.errors);
    // Resolving is I/O, so it happens before the transaction, for the services the current
    // state says will be created or changed; a plan made again after a conflict uses these.
    const pins = await this.resolvePins(
      parsed.manifests
        .filter((m): m is ServiceManifest => m.kind === 'Service')
        .filter((m) => needsPin(this.deps.store.find('service', { name: m.name })[0]?.spec, m.spec))
        .map((m) => m.spec.container.image),
    );
    let results: pb.ApplyResult[] = [];
    let warnings: string[] = [];
    const plan = (): Transaction => {
      results = [];
      warnings = [];
      const tx: Change[] = [];
      for (const m of parsed.manifests) {
        const { change, action, warning } = this.planOne(m, pins);
        if (change !== null) tx.push(change);
        warnings.push(...warningsOf(m.name, warning));
        const id = (change === null ? undefined : changeId(change)) ?? this.idOf(m);
        results.push({ kind: m.kind, name: m.name, id, action });
      }
      return tx;
    };
    if (r.dryRun) {
      plan();
      for (const x of results) if (x.action === 'created') x.id = '';
      return { results, version: this.deps.store.version, warnings };
    }
    const o = await update(this.deps.store, this.deps.writer, (): Transaction | null => {
      const tx = plan();
      return tx.length === 0 ? null : tx;
    });
    if (o === null) return { results, version: this.deps.store.version, warnings };
    if (!o.ok) throw fromRefusal(o);
    return { results, version: o.version, warnings };
  }

  private idOf(m: Manifest): string {
    const kind = m.kind === 'Service' ? 'service' : 'network';
    return this.deps.store.find(kind, { name: m.name })[0]?.meta.id ?? '';
  }

  private planOne(
    m: Manifest,
    pins: ReadonlyMap<string, ResolveImageOutcome>,
  ): { change: Change | null; action: ApplyAction; warning?: string | undefined } {
    if (m.kind === 'Service') {
      const prev = this.deps.store.find('service', { name: m.name })[0];
      if (prev === undefined) {
        const { spec, warning } = pinSpec(m.spec, pins);
        const object: Service = {
          meta: newMeta(this.deps.newId() as ServiceId, m.name, m.labels),
          spec,
          specVersion: 1,
        };
        return { change: { op: 'create', kind: 'service', object }, action: 'created', warning };
      }
      // Compared as the user wrote it: our pin alone is no change, so re-applying an unchanged
      // manifest keeps the stored digest (tug apply does not "pull latest").
      const written = storedAsWritten(prev.spec, m.spec.container.image);
      if (jsonEqual(written, m.spec) && jsonEqual(prev.meta.labels, m.labels)) {
        return { change: null, action: 'unchanged' };
      }
      const pinned = specToStore(prev.spec, m.spec, pins);
      const object = nextService(prev, pinned.spec, m.labels);
      return {
        change: { op: 'update', kind: 'service', object },
        action: 'updated',
        warning: pinned.warning,
      };
    }
    const prev = this.deps.store.find('network', { name: m.name })[0];
    if (prev === undefined) {
      const object: Network = {
        meta: newMeta(this.deps.newId() as NetworkId, m.name, m.labels),
        spec: m.spec,
      };
      return { change: { op: 'create', kind: 'network', object }, action: 'created' };
    }
    if (!jsonEqual(prev.spec, m.spec)) {
      // Tasks are attached with the allocation made for the old spec; changing it in place
      // would strand them.
      throw new ControlError(
        'invalid',
        `${m.file}:${m.line}: network ${m.name}: spec cannot change once created; remove the network and create it again`,
      );
    }
    if (jsonEqual(prev.meta.labels, m.labels)) return { change: null, action: 'unchanged' };
    const object: Network = { ...prev, meta: { ...prev.meta, labels: { ...m.labels } } };
    return { change: { op: 'update', kind: 'network', object }, action: 'updated' };
  }

  // ---- watch ----------------------------------------------------------------------------------

  /** Ends when the client cancels; a watch reset ends the stream with OUT_OF_RANGE. */
  private async watch(
    call: ServerWritableStream<pb.WatchRequest, pb.WatchResponse>,
  ): Promise<void> {
    const ac = new AbortController();
    const stop = (): void => {
      ac.abort();
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    try {
      const kinds = call.request.kinds;
      for (const k of kinds) {
        if (!(objectKinds as readonly string[]).includes(k)) {
          throw new ControlError('invalid', `watch: unknown kind ${k}`);
        }
      }
      const batches = this.deps.store.watchBatches({
        ...(call.request.fromVersion === undefined
          ? {}
          : { fromVersion: call.request.fromVersion }),
        ...(kinds.length === 0 ? {} : { kinds: kinds as ObjectKind[] }),
        signal: ac.signal,
      });
      // Tell the client the watch is in place (headers), so it can write knowing it will see it.
      call.sendMetadata(new Metadata());
      for await (const batch of batches) {
        for (const events of watchMessages(batch)) {
          if (call.write({ events }) || ac.signal.aborted) continue;
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done);
              ac.signal.removeEventListener('abort', done);
              resolve();
            };
            call.on('drain', done);
            ac.signal.addEventListener('abort', done, { once: true });
          });
        }
      }
      if (!call.cancelled) call.end();
    } catch (err) {
      if (!call.cancelled) call.emit('error', toStatus(err));
    } finally {
      call.off('cancelled', stop);
      call.off('close', stop);
      ac.abort();
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** By id first, then by name. */
  private resolve<K extends 'service' | 'network' | 'task' | 'node'>(
    kind: K,
    ref: string,
  ): ObjectsByKind[K] {
    if (ref === '') throw new ControlError('invalid', `${kind}: an id or name is required`);
    const o = this.deps.store.get(kind, ref) ?? this.deps.store.find(kind, { name: ref })[0];
    if (o === undefined) throw new ControlError('not-found', `${kind} ${ref} not found`);
    return o;
  }

  /** Digests for the images, when a resolver is configured; none otherwise. */
  private async resolvePins(images: readonly string[]): Promise<Map<string, ResolveImageOutcome>> {
    const resolver = this.deps.resolveImage;
    if (resolver === undefined || images.length === 0) return new Map();
    return resolveAll(resolver, images);
  }

  private sorted<K extends ObjectKind>(kind: K): ObjectsByKind[K][] {
    return this.deps.store.list(kind).sort(byName);
  }

  private networkNames(): ReadonlySet<string> {
    return new Set(this.deps.store.list('network').map((n) => n.meta.name));
  }

  /** A spec from a client, through the manifest validator: JSON → YAML → parseManifests. */
  private validateService(
    name: string,
    labels: Readonly<Record<string, string>>,
    specJson: string,
  ): ServiceManifest {
    const spec = parseJson(specJson, 'service spec') as ServiceSpec;
    return this.validate({
      kind: 'Service',
      file: REQUEST_FILE,
      line: 1,
      name,
      labels,
      spec,
    }) as ServiceManifest;
  }

  private validate(m: Manifest): Manifest {
    let text: string;
    try {
      text = renderManifests([m]);
    } catch (e) {
      throw new ControlError('invalid', `${m.kind.toLowerCase()} spec: malformed: ${String(e)}`);
    }
    const parsed = parseManifests([{ file: REQUEST_FILE, text }], {
      existingNetworks: this.networkNames(),
    });
    if (!parsed.ok) throw new ManifestInvalidError(parsed.errors);
    const out = parsed.manifests[0];
    if (parsed.manifests.length !== 1 || out === undefined || out.kind !== m.kind) {
      throw new ControlError('invalid', `${m.kind.toLowerCase()} spec: malformed`);
    }
    return out;
  }

  private async submit(tx: Transaction): Promise<Extract<TransactionOutcome, { ok: true }>> {
    const o = await this.deps.writer.submit(tx);
    if (!o.ok) throw fromRefusal(o);
    return o;
  }

  /** Read-modify-write with retries on conflict; a refusal becomes a ControlError. */
  private async update(
    build: (store: MemoryStore) => Transaction,
  ): Promise<Extract<TransactionOutcome, { ok: true }>> {
    const o = await update(this.deps.store, this.deps.writer, build);
    if (o === null) throw new Error('update built no transaction');
    if (!o.ok) throw fromRefusal(o);
    return o;
  }
}

const warningsOf = (service: string, warning: string | undefined): string[] =>
  warning === undefined ? [] : [`service ${service}: ${warning}`];

const byName = (a: { meta: Meta }, b: { meta: Meta }): number =>
  a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0;

const unary =
  <Req, Res>(handler: (req: Req) => Promise<Res>) =>
  (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    let p: Promise<Res>;
    try {
      p = handler(call.request);
    } catch (err) {
      callback(toStatus(err));
      return;
    }
    p.then(
      (res) => {
        callback(null, res);
      },
      (err: unknown) => {
        callback(toStatus(err));
      },
    );
  };
