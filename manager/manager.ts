// One manager: a Raft member whose state machine is the object store, the control API and the
// dispatcher on the same gRPC port as Raft, and the leader-only components (orchestrator,
// scheduler, dispatcher) running while — and only while — this manager leads, each writing
// through a proposer fenced to its term.
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../common/clock.js';
import type { TaskId } from '../common/model.js';
import * as controlPb from '../proto/gen/control.js';
import * as dispatcherPb from '../proto/gen/dispatcher.js';
import * as logsPb from '../proto/gen/logs.js';
import * as membershipPb from '../proto/gen/membership.js';
import { ControlServer } from './controlapi/control-server.js';
import { Forwarder } from './controlapi/forward.js';
import type { ImageResolver } from './controlapi/image-pinning.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { LogBroker, LogsRelay } from './logbroker/index.js';
import { Membership } from './membership.js';
import { LeaderLifecycle, type FencedProposer, type LeaderComponent } from './leadership.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { NONE, Role, type ConfChange, type MemberId } from './raft/core/index.js';
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
  /**
   * Raft election timeout in ticks (randomized in [n, 2n)); default DEFAULT_ELECTION_TICKS. A
   * follower that loses its connection to the leader campaigns within 5 ticks regardless, so
   * this bounds only how long a live but busy leader may go unheard before it is replaced.
   */
  readonly electionTicks?: number;
  /** Agent heartbeat period and grace; default: the cluster object's (1 s / 3 s). */
  readonly heartbeat?: { readonly periodMs: number; readonly graceMs: number };
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
  /**
   * Called (in the Raft loop) after a conf change is applied and the peer table updated from it,
   * with the table as it now is — e.g. to persist it, since a restart does not replay changes that
   * a snapshot already covers.
   */
  readonly onPeersChange?: (peers: ReadonlyMap<MemberId, string>, cc: ConfChange) => void;
  /** Called once after this manager left the cluster through Leave (the process should stop). */
  readonly onLeft?: () => void;
  /** Deadline of a control API write on the leader when the caller's is later or absent. */
  readonly writeTimeoutMs?: number;
  /**
   * Pins service images to digests on create and spec changes (docs/controlapi.md); absent:
   * images are stored as written. manager/main.ts passes registryImageResolver by default.
   */
  readonly resolveImage?: ImageResolver;
}

/**
 * 30 ticks: 3–6 s at the 100 ms tick (Swarm: ~10 s). With 10 (1–2 s), a leader applying the
 * writes of 10,000 tasks on a 2-core box stalled its event loop past the followers' timeout and
 * lost leadership 9–10 times per bench/control run; a crashed leader's followers see its
 * connections close and campaign within 5 ticks anyway (docs/raft-core.md).
 */
export const DEFAULT_ELECTION_TICKS = 30;

/** Object ids: 96 random bits in hex, as swarmkit's are random too. */
export const newObjectId = (): string => randomBytes(12).toString('hex');

export class Manager {
  readonly id: MemberId;
  readonly store: MemoryStore;
  readonly address: string;
  readonly membership: Membership;
  private readonly member: RaftMember<readonly TransactionOutcome[]>;
  private readonly lifecycle: LeaderLifecycle;
  private readonly peerTable: Map<MemberId, string>;
  private promoter: ReturnType<typeof setInterval> | undefined;
  private readonly promoteEveryMs: number;
  private readonly forwarder: Forwarder;
  private readonly logsRelay: LogsRelay;
  /** The leader's log broker and task figures (serving only while this manager leads). */
  readonly logBroker: LogBroker;

  private constructor(parts: {
    id: MemberId;
    store: MemoryStore;
    address: string;
    member: RaftMember<readonly TransactionOutcome[]>;
    lifecycle: LeaderLifecycle;
    membership: Membership;
    peers: Map<MemberId, string>;
    promoteEveryMs: number;
    forwarder: Forwarder;
    logsRelay: LogsRelay;
    logBroker: LogBroker;
  }) {
    this.forwarder = parts.forwarder;
    this.logsRelay = parts.logsRelay;
    this.logBroker = parts.logBroker;
    this.id = parts.id;
    this.store = parts.store;
    this.address = parts.address;
    this.member = parts.member;
    this.lifecycle = parts.lifecycle;
    this.membership = parts.membership;
    this.peerTable = parts.peers;
    this.promoteEveryMs = parts.promoteEveryMs;
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
      // Agents fail over with these: every manager's address, and the leader's when not leader.
      addresses: () => {
        const self = ref.address ?? opts.listen;
        const leader = ref.member?.node.status().leader ?? NONE;
        return {
          managers: [self, ...peers.values()],
          leader: leader === NONE ? '' : leader === opts.id ? self : (peers.get(leader) ?? ''),
        };
      },
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
    // Logs and task figures: leader-only, in memory (docs/agent.md "Logs and stats").
    const logBroker = new LogBroker({
      store,
      leaderAddress: () => {
        const leader = ref.member?.node.status().leader ?? NONE;
        return leader === NONE
          ? ''
          : leader === opts.id
            ? (ref.address ?? opts.listen)
            : (peers.get(leader) ?? '');
      },
      log,
    });
    leaderComponents.push({ name: 'logbroker', run: (signal) => logBroker.run(signal) });
    // The lifecycle needs the node to propose and the node needs the lifecycle to report
    // leadership: bind late.
    const ref: { member?: RaftMember<readonly TransactionOutcome[]>; address?: string } = {};
    // Peer addresses: the initial ones from addPeer, then whatever conf changes carry.
    const peers = new Map<MemberId, string>();
    const onConfChange = (cc: ConfChange): void => {
      const transport = ref.member?.transport;
      if (cc.member === opts.id || transport === undefined) return;
      if (cc.type === 'remove') {
        peers.delete(cc.member);
        transport.removePeer(cc.member);
      } else if (cc.context !== '') {
        // Bootstrap entries carry no address; a joined member's carries the one it listens on.
        if (peers.has(cc.member)) transport.updatePeer(cc.member, cc.context);
        else transport.addPeer(cc.member, cc.context);
        peers.set(cc.member, cc.context);
      } else return;
      opts.onPeersChange?.(peers, cc);
    };
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
      config: { electionTick: opts.electionTicks ?? DEFAULT_ELECTION_TICKS },
      log,
      onLeaderChange: (leader, term) => {
        lifecycle.onLeaderChange(leader, term);
      },
      onConfChange,
    });
    ref.member = member;
    const tickMs = opts.tickMs ?? 100;
    // Two of the longest randomized election timeouts (2 × electionTick each).
    const electionWaitMs = 2 * 2 * (opts.electionTicks ?? DEFAULT_ELECTION_TICKS) * tickMs;
    const membership = new Membership({
      self: opts.id,
      clusterId: opts.clusterId,
      node: member.node,
      address: () => ref.address ?? opts.listen,
      peers: () => peers,
      log,
      ...(opts.onLeft === undefined ? {} : { onLeft: opts.onLeft }),
      leaderWaitMs: electionWaitMs,
      pollMs: tickMs,
    });
    const control = new ControlServer({
      store,
      writer: new StoreWriter({ proposer: member.node, now: () => clock.now() }),
      now: () => clock.now(),
      newId: newObjectId,
      resolveImage: opts.resolveImage,
    });
    const forwarder = new Forwarder({
      self: opts.id,
      status: () => {
        const st = member.node.status();
        return { leader: st.leader, isLeader: st.role === Role.Leader };
      },
      addressOf: (id) => membership.leaderAddress(id as MemberId),
      readIndex: () => member.node.readIndex(),
      electionWaitMs,
      pollMs: tickMs,
      writeTimeoutMs: opts.writeTimeoutMs ?? 10_000,
      log,
    });
    const logsRelay = new LogsRelay({
      self: opts.id,
      status: () => {
        const st = member.node.status();
        return { leader: st.leader, isLeader: st.role === Role.Leader };
      },
      addressOf: (id) => membership.leaderAddress(id as MemberId),
      electionWaitMs,
      pollMs: tickMs,
    });
    const address = await member.transport.listen(opts.listen, [
      {
        definition: controlPb.ControlServiceService,
        implementation: forwarder.wrap(control.handlers()),
      },
      { definition: dispatcherPb.DispatcherServiceService, implementation: dispatcher.service },
      { definition: membershipPb.MembershipServiceService, implementation: membership.service() },
      { definition: logsPb.LogBrokerServiceService, implementation: logBroker.agentService() },
      {
        definition: logsPb.LogsServiceService,
        implementation: logsRelay.wrap(logBroker.logsService()),
      },
    ]);
    ref.address = address;
    return new Manager({
      id: opts.id,
      store,
      address,
      member,
      lifecycle,
      membership,
      peers,
      promoteEveryMs: 2 * tickMs,
      forwarder,
      logsRelay,
      logBroker,
    });
  }

  /** Adds a peer's address (the initial members, or a restart's saved table; joins come as conf changes). */
  addPeer(id: MemberId, address: string): void {
    this.member.transport.addPeer(id, address);
    this.peerTable.set(id, address);
  }

  /** Peer addresses known to this manager (not including itself). */
  get peers(): ReadonlyMap<MemberId, string> {
    return this.peerTable;
  }

  /** Starts Raft; call after the peers are known. */
  run(): void {
    this.member.node.start();
    this.promoter = setInterval(() => {
      this.membership.promoteCaughtUp();
    }, this.promoteEveryMs);
    this.promoter.unref();
  }

  get raft(): RaftMember<readonly TransactionOutcome[]>['node'] {
    return this.member.node;
  }

  /** Leader-only components first (they may still be writing), then Raft, transport and WAL. */
  async stop(): Promise<void> {
    clearInterval(this.promoter);
    this.forwarder.close();
    this.logsRelay.close();
    await this.lifecycle.stop();
    await this.member.close();
  }
}
