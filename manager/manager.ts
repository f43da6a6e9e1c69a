// One manager: a Raft member whose state machine is the object store, the control API and the
// dispatcher on the same gRPC port as Raft, and the leader-only components (orchestrator,
// scheduler, dispatcher) running while — and only while — this manager leads, each writing
// through a proposer fenced to its term.
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../common/clock.js';
import type { TaskId } from '../common/model.js';
import * as controlPb from '../proto/gen/control.js';
import * as dispatcherPb from '../proto/gen/dispatcher.js';
import { ControlServer } from './controlapi/control-server.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { LeaderLifecycle, type FencedProposer, type LeaderComponent } from './leadership.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { NONE, type MemberId } from './raft/core/index.js';
import { NotLeaderError } from './raft/errors.js';
import { openRaftMember, type RaftMember } from './raft/member.js';
import { Scheduler } from './scheduler/scheduler.js';
import { MemoryStore, StoreWriter, type TransactionOutcome } from './store/index.js';

export interface ManagerOptions {
  readonly id: MemberId;
  readonly dataDir: string;
  readonly clusterId: string;
  /** host:port for Raft and the control API; port 0 picks one. */
  readonly listen: string;
  /** Initial voters of a new cluster (ignored when the data dir has state). */
  readonly bootstrap?: readonly MemberId[];
  readonly tickMs?: number;
  /** Agent heartbeat period and grace; default: the cluster object's (1 s / 3 s). */
  readonly heartbeat?: { readonly periodMs: number; readonly graceMs: number };
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
}

/** Object ids: 96 random bits in hex, as swarmkit's are random too. */
export const newObjectId = (): string => randomBytes(12).toString('hex');

export class Manager {
  readonly id: MemberId;
  readonly store: MemoryStore;
  readonly address: string;
  private readonly member: RaftMember<readonly TransactionOutcome[]>;
  private readonly lifecycle: LeaderLifecycle;

  private constructor(
    id: MemberId,
    store: MemoryStore,
    address: string,
    member: RaftMember<readonly TransactionOutcome[]>,
    lifecycle: LeaderLifecycle,
  ) {
    this.id = id;
    this.store = store;
    this.address = address;
    this.member = member;
    this.lifecycle = lifecycle;
  }

  static async start(opts: ManagerOptions): Promise<Manager> {
    const clock = opts.clock ?? systemClock;
    const log = opts.log ?? (() => undefined);
    const store = new MemoryStore();
    const leaderComponents: LeaderComponent[] = [
      {
        name: 'orchestrator',
        run: (signal, proposer) =>
          new Orchestrator({
            store,
            writer: new StoreWriter({ proposer, now: () => clock.now() }),
            clock,
            newId: () => newObjectId() as TaskId,
            log,
          }).run(signal),
      },
      {
        name: 'scheduler',
        run: (signal, proposer) =>
          new Scheduler({
            store,
            writer: new StoreWriter({ proposer, now: () => clock.now() }),
            clock,
            log,
          }).run(signal),
      },
    ];
    // The dispatcher's service is registered once but may write only while its term lasts: its
    // writer goes through the fenced proposer of the term it currently runs in.
    const dispatcherProposer: { current: FencedProposer | null } = { current: null };
    const dispatcher = new Dispatcher({
      store,
      writer: new StoreWriter({
        proposer: {
          propose: (data) =>
            dispatcherProposer.current === null
              ? Promise.reject(new NotLeaderError(NONE, 'the dispatcher is not running'))
              : dispatcherProposer.current.propose(data),
        },
        now: () => clock.now(),
      }),
      clock,
      log,
      ...(opts.heartbeat === undefined ? {} : { heartbeat: opts.heartbeat }),
    });
    leaderComponents.push({
      name: 'dispatcher',
      run: async (signal, proposer) => {
        dispatcherProposer.current = proposer;
        try {
          await dispatcher.run(signal);
        } finally {
          if (dispatcherProposer.current === proposer) dispatcherProposer.current = null;
        }
      },
    });
    // The lifecycle needs the node to propose and the node needs the lifecycle to report
    // leadership: bind late.
    const ref: { member?: RaftMember<readonly TransactionOutcome[]> } = {};
    const lifecycle = new LeaderLifecycle({
      self: opts.id,
      components: leaderComponents,
      proposer: {
        propose: (data, term) => {
          if (ref.member === undefined) return Promise.reject(new Error('manager is starting'));
          return ref.member.node.propose(data, term);
        },
      },
      log,
    });
    const member = await openRaftMember({
      id: opts.id,
      dataDir: opts.dataDir,
      clusterId: opts.clusterId,
      stateMachine: store,
      ...(opts.bootstrap === undefined ? {} : { bootstrap: opts.bootstrap }),
      ...(opts.tickMs === undefined ? {} : { tickMs: opts.tickMs }),
      log,
      onLeaderChange: (leader, term) => {
        lifecycle.onLeaderChange(leader, term);
      },
    });
    ref.member = member;
    const control = new ControlServer({
      store,
      writer: new StoreWriter({ proposer: member.node, now: () => clock.now() }),
      now: () => clock.now(),
      newId: newObjectId,
    });
    const address = await member.transport.listen(opts.listen, [
      { definition: controlPb.ControlServiceService, implementation: control.handlers() },
      { definition: dispatcherPb.DispatcherServiceService, implementation: dispatcher.service },
    ]);
    return new Manager(opts.id, store, address, member, lifecycle);
  }

  /** Adds a peer's address (for the initial members; joins come with the membership commands). */
  addPeer(id: MemberId, address: string): void {
    this.member.transport.addPeer(id, address);
  }

  /** Starts Raft; call after the peers are known. */
  run(): void {
    this.member.node.start();
  }

  get raft(): RaftMember<readonly TransactionOutcome[]>['node'] {
    return this.member.node;
  }

  /** Leader-only components first (they may still be writing), then Raft, transport and WAL. */
  async stop(): Promise<void> {
    await this.lifecycle.stop();
    await this.member.close();
  }
}
