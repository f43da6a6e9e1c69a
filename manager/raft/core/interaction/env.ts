// The interaction environment: a handful of Raft members driven one step at a time by script
// commands, with an in-memory "disk" per member (what each Ready told it to persist), an
// in-memory state machine per member (the data of applied entries) and a network that holds
// every message until a script delivers or drops it. Everything is deterministic: messages are
// delivered in the order they were sent, members are visited in id order, and each member's
// election jitter comes from a seeded generator.
//
// The env plays the application's part of the Ready contract exactly: persist (snapshot, then
// entries, then hardState), then send, then apply, then advance() — so a transcript is also a
// worked example of how a driver must use the core.
import { decodeConfChange, encodeConfChange } from '../confchange.js';
import { Raft } from '../raft.js';
import { seededRandom } from '../testing/network.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  memberId,
  type ConfState,
  type Entry,
  type HardState,
  type MemberId,
  type Message,
  type ProposeOutcome,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from '../types.js';
import { ScriptError, type Command } from './datadriven.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const enc = (s: string): Uint8Array => encoder.encode(s);
const dec = (b: Uint8Array): string => decoder.decode(b);
const quote = (b: Uint8Array): string => JSON.stringify(dec(b));

/** What a member's disk holds: exactly what its Readys said to persist. */
interface Storage {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries in index order; may start at or before the snapshot's index (not compacted yet). */
  entries: Entry[];
}

interface Member {
  readonly id: MemberId;
  raft: Raft;
  readonly storage: Storage;
  /** The replicated state machine: the data of every applied non-empty normal entry, in order. */
  app: string[];
  /** How many values the member's random source handed out (one per election-timer reset). */
  readonly draws: { count: number };
  restarts: number;
}

// ---- formatting ------------------------------------------------------------------------------

const list = (ids: readonly number[]): string => `(${ids.join(',')})`;

export const formatConf = (c: ConfState): string =>
  `voters=${list(c.voters)} learners=${list(c.learners)}` +
  (c.removed.length > 0 ? ` removed=${list(c.removed)}` : '');

export const formatEntry = (e: Entry): string => {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    const ctx = cc.context === '' ? '' : ` ${cc.context}`;
    return `${e.term}/${e.index} conf ${JSON.stringify(`${cc.type} ${cc.member}${ctx}`)}`;
  }
  return `${e.term}/${e.index} normal ${quote(e.data)}`;
};

export const formatSnapshot = (s: Snapshot): string =>
  `[index=${s.metadata.index} term=${s.metadata.term} ${formatConf(s.metadata.conf)} data=${quote(s.data)}]`;

/** One line per message; only the fields its type uses, so a stray field stands out. */
export const formatMessage = (m: Message): string => {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  const ctx = m.context.byteLength > 0 ? ` ctx=${quote(m.context)}` : '';
  switch (m.type) {
    case MessageType.App: {
      const ents =
        m.entries.length > 0 ? ` entries=[${m.entries.map(formatEntry).join(', ')}]` : '';
      return `${head} log=${m.logTerm}/${m.index} commit=${m.commit}${ents}`;
    }
    case MessageType.AppResp:
      return m.reject
        ? `${head} rejected index=${m.index} hint=${m.logTermHint}/${m.rejectHint}`
        : `${head} index=${m.index}`;
    case MessageType.Vote:
    case MessageType.PreVote:
      return `${head} last=${m.logTerm}/${m.index}${ctx}`;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case MessageType.Heartbeat:
      return `${head} commit=${m.commit}${ctx}`;
    case MessageType.HeartbeatResp:
    case MessageType.TimeoutNow:
    case MessageType.ReadIndex:
      return `${head}${ctx}`;
    case MessageType.ReadIndexResp:
      return `${head} index=${m.index}${ctx}`;
    case MessageType.Snap:
      return `${head} snapshot=${m.snapshot === null ? 'none' : formatSnapshot(m.snapshot)}`;
  }
};

const formatOutcome = (o: ProposeOutcome): string =>
  o.ok
    ? `ok index=${o.index} term=${o.term}`
    : `refused: ${o.reason} leader=${o.leader}${o.detail === undefined ? '' : ` (${o.detail})`}`;

const messageTypes = Object.values(MessageType) as readonly string[];
const confChangeTypes = Object.values(ConfChangeType) as readonly string[];

// ---- the environment -------------------------------------------------------------------------

export class InteractionEnv {
  private readonly members = new Map<MemberId, Member>();
  private config: Omit<RaftConfig, 'id'> | null = null;
  private seed = 1;
  /** Messages sent and not yet delivered or dropped, in send order. */
  private network: Message[] = [];
  private readonly isolated = new Set<MemberId>();
  private out: string[] = [];
  private indent = '';
  private logs: string[] = [];

  /** Runs one command and returns its transcript ('ok' when it printed nothing). */
  handle(cmd: Command): string {
    this.out = [];
    this.indent = '';
    this.logs = [];
    try {
      this.dispatch(cmd);
    } catch (err) {
      // A core error (invariant or bad request) is behaviour under test: it goes in the
      // transcript. Bad scripts and bugs of this env (TypeError…) fail the test instead.
      if (err instanceof ScriptError) throw err;
      if (!(err instanceof Error) || (err.constructor !== Error && !(err instanceof RangeError))) {
        throw err;
      }
      this.flushLogs();
      this.indent = '';
      this.print(`error: ${err.message}`);
    }
    this.flushLogs();
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  private dispatch(cmd: Command): void {
    switch (cmd.name) {
      case 'add-nodes':
        this.addNodes(cmd);
        return;
      case 'add-node':
        cmd.allowOnly([], 1);
        this.addNode(this.newId(cmd));
        return;
      case 'campaign':
        cmd.allowOnly([], 1);
        this.member(cmd, 0).raft.campaign();
        return;
      case 'tick':
        this.tick(cmd);
        return;
      case 'tick-election':
        cmd.allowOnly([], Infinity);
        for (const m of this.memberList(cmd)) this.tickElection(m);
        return;
      case 'tick-heartbeat':
        cmd.allowOnly([], Infinity);
        for (const m of this.memberList(cmd)) {
          for (let i = 0; i < this.cfg(cmd).heartbeatTick; i++) m.raft.tick();
        }
        return;
      case 'propose':
        this.propose(cmd);
        return;
      case 'propose-conf-change':
        this.proposeConfChange(cmd);
        return;
      case 'transfer-leadership': {
        cmd.allowOnly([], 2);
        const to = this.idArg(cmd, 1);
        this.print(formatOutcome(this.member(cmd, 0).raft.transferLeadership(to)));
        return;
      }
      case 'read-index': {
        cmd.allowOnly([], 2);
        const ctx = cmd.positional()[1];
        if (ctx === undefined) throw cmd.error('usage: read-index <id> <context>');
        this.print(formatOutcome(this.member(cmd, 0).raft.readIndex(enc(ctx))));
        return;
      }
      case 'report-unreachable':
        cmd.allowOnly([], 2);
        this.member(cmd, 0).raft.reportUnreachable(this.idArg(cmd, 1));
        return;
      case 'report-snapshot': {
        cmd.allowOnly(['ok'], 2);
        const ok = cmd.namedBool('ok', true);
        this.member(cmd, 0).raft.reportSnapshot(this.idArg(cmd, 1), ok);
        return;
      }
      case 'process-ready':
        cmd.allowOnly([], Infinity);
        for (const m of this.memberList(cmd)) this.processReady(m);
        return;
      case 'deliver-msgs':
        this.deliverMsgs(cmd);
        return;
      case 'stabilize':
        this.stabilize(cmd);
        return;
      case 'status':
        cmd.allowOnly([], 1);
        this.status(this.member(cmd, 0));
        return;
      case 'raft-log':
        cmd.allowOnly([], 1);
        this.raftLog(this.member(cmd, 0));
        return;
      case 'snapshot':
        cmd.allowOnly([], 1);
        this.snapshot(this.member(cmd, 0));
        return;
      case 'compact':
        this.compact(cmd);
        return;
      case 'restart':
        cmd.allowOnly([], 1);
        this.restart(this.member(cmd, 0));
        return;
      case 'isolate':
        cmd.allowOnly([], 1);
        this.isolated.add(this.member(cmd, 0).id);
        return;
      case 'heal':
        cmd.allowOnly([], 0);
        this.isolated.clear();
        return;
      default:
        throw cmd.error('unknown command');
    }
  }

  // ---- output ----

  private print(line: string): void {
    this.out.push(`${this.indent}${line}`);
  }

  private flushLogs(): void {
    for (const l of this.logs) this.print(`INFO ${l}`);
    this.logs = [];
  }

  private indented(f: () => void): void {
    const saved = this.indent;
    this.indent += '  ';
    try {
      f();
    } finally {
      this.indent = saved;
    }
  }

  // ---- argument helpers ----

  private cfg(cmd: Command): Omit<RaftConfig, 'id'> {
    if (this.config === null) throw cmd.error('no cluster yet: start with add-nodes');
    return this.config;
  }

  private idArg(cmd: Command, i: number): MemberId {
    const v = cmd.positional()[i];
    if (v === undefined) throw cmd.error(`missing member id (argument ${i + 1})`);
    const n = cmd.int(v, 'member id');
    if (n <= 0) throw cmd.error(`member id must be positive, got ${n}`);
    return memberId(n);
  }

  private member(cmd: Command, i: number): Member {
    this.cfg(cmd);
    const id = this.idArg(cmd, i);
    const m = this.members.get(id);
    if (m === undefined) throw cmd.error(`no member ${id} (members: ${list(this.ids())})`);
    return m;
  }

  private memberList(cmd: Command): Member[] {
    const n = cmd.positional().length;
    if (n === 0) throw cmd.error('needs at least one member id');
    return Array.from({ length: n }, (_, i) => this.member(cmd, i));
  }

  private newId(cmd: Command): MemberId {
    this.cfg(cmd);
    const id = this.idArg(cmd, 0);
    if (this.members.has(id)) throw cmd.error(`member ${id} already exists`);
    return id;
  }

  private ids(): MemberId[] {
    return [...this.members.keys()].sort((a, b) => a - b);
  }

  // ---- members ----

  private addNodes(cmd: Command): void {
    cmd.allowOnly(
      [
        'voters',
        'learners',
        'pre-vote',
        'check-quorum',
        'election',
        'heartbeat',
        'max-inflight',
        'max-msg-size',
        'seed',
      ],
      1,
    );
    if (this.config !== null) throw cmd.error('the cluster was already created');
    const nArg = cmd.positional()[0];
    if (nArg === undefined) throw cmd.error('usage: add-nodes <n> voters=(…) [learners=(…)] …');
    const n = cmd.int(nArg, 'node count');
    if (n < 1) throw cmd.error('node count must be ≥ 1');
    const voters = (cmd.namedInts('voters') ?? Array.from({ length: n }, (_, i) => i + 1)).map(
      (v) => memberId(v),
    );
    const learners = (cmd.namedInts('learners') ?? []).map((v) => memberId(v));
    const all = [...voters, ...learners];
    if (new Set(all).size !== all.length) throw cmd.error('a member is listed twice');
    if (all.length !== n) {
      throw cmd.error(`${n} nodes but ${all.length} voters and learners were listed`);
    }
    if (voters.length === 0) throw cmd.error('needs at least one voter');
    this.config = {
      heartbeatTick: cmd.namedInt('heartbeat', 1),
      electionTick: cmd.namedInt('election', 10),
      preVote: cmd.namedBool('pre-vote', true),
      checkQuorum: cmd.namedBool('check-quorum', true),
      maxInflightMsgs: cmd.namedInt('max-inflight', 256),
      maxSizePerMsg: cmd.namedInt('max-msg-size', 1 << 20),
      maxCommittedSizePerReady: 16 << 20,
      maxUncommittedSize: 64 << 20,
    };
    this.seed = cmd.namedInt('seed', 1);
    for (const id of [...all].sort((a, b) => a - b)) {
      if (learners.length === 0) {
        const m = this.create(id, undefined);
        m.raft.bootstrap(voters);
      } else {
        // bootstrap() takes voters only; a cluster born with learners starts as if restarted
        // from a disk holding the same bootstrap entries plus the learners' add-learner changes.
        const entries: Entry[] = [
          ...voters.map((member) => ({ type: ConfChangeType.AddVoter, member })),
          ...learners.map((member) => ({ type: ConfChangeType.AddLearner, member })),
        ].map((cc, i) => ({
          term: 1,
          index: i + 1,
          type: EntryType.ConfChange,
          data: encodeConfChange({ ...cc, context: '' }),
        }));
        const hs: HardState = { term: 1, vote: NONE, commit: entries.length };
        this.create(id, { hardState: hs, snapshot: null, entries });
      }
    }
    const c = this.config;
    this.print(
      `cluster ${list(all.sort((a, b) => a - b))}: voters=${list(voters)} learners=${list(learners)}` +
        ` pre-vote=${c.preVote} check-quorum=${c.checkQuorum} election=${c.electionTick}` +
        ` heartbeat=${c.heartbeatTick} max-inflight=${c.maxInflightMsgs}` +
        (c.maxSizePerMsg === 1 << 20 ? '' : ` max-msg-size=${c.maxSizePerMsg}`),
    );
  }

  private addNode(id: MemberId): void {
    this.create(id, undefined);
    this.print(`member ${id} started empty: it joins once a conf change adds it`);
  }

  /** Builds a member (new, or from its storage on restart). */
  private create(id: MemberId, storage: Storage | undefined): Member {
    const draws = { count: 0 };
    const prev = this.members.get(id);
    const restarts = prev === undefined ? 0 : prev.restarts + 1;
    const rnd = seededRandom(this.seed * 1_000_003 + id * 101 + restarts);
    const random = (): number => {
      draws.count++;
      return rnd();
    };
    const snap = storage?.snapshot ?? null;
    const raft = new Raft({
      config: { ...this.config!, id },
      random,
      ...(storage === undefined
        ? {}
        : {
            persisted: {
              hardState: storage.hardState,
              snapshot: snap,
              entries: storage.entries.filter((e) => e.index > (snap?.metadata.index ?? 0)),
            },
          }),
      log: (line) => this.logs.push(line),
    });
    const m: Member = {
      id,
      raft,
      storage: storage ?? {
        hardState: { term: 0, vote: NONE, commit: 0 },
        snapshot: null,
        entries: [],
      },
      app: snap === null ? [] : decodeApp(snap.data),
      draws,
      restarts,
    };
    this.members.set(id, m);
    return m;
  }

  private restart(m: Member): void {
    const s = m.storage;
    const snap = s.snapshot;
    const fresh = this.create(m.id, {
      hardState: s.hardState,
      snapshot: snap,
      entries: [...s.entries],
    });
    const kept = fresh.raft.logEntries();
    const range = kept.length === 0 ? 'none' : `${kept[0]!.index}..${kept.at(-1)!.index}`;
    this.print(
      `restarted ${m.id} from its disk: term=${s.hardState.term} vote=${s.hardState.vote}` +
        ` commit=${s.hardState.commit}` +
        ` snapshot=${snap === null ? 'none' : `${snap.metadata.term}/${snap.metadata.index}`}` +
        ` entries=${range}`,
    );
    this.flushLogs();
  }

  // ---- local inputs ----

  private tick(cmd: Command): void {
    cmd.allowOnly([], 2);
    const m = this.member(cmd, 0);
    const nArg = cmd.positional()[1];
    if (nArg === undefined) throw cmd.error('usage: tick <id> <n>');
    const n = cmd.int(nArg, 'tick count');
    for (let i = 0; i < n; i++) m.raft.tick();
  }

  /**
   * A leader: one election timeout (electionTick ticks), which runs one CheckQuorum round and
   * ends an unfinished transfer. Anyone else: ticks until its randomized election timer fires —
   * seen as the timer drawing a new random timeout — and at most 2·electionTick ticks (a member
   * that cannot campaign, a learner say, just ticks that long).
   */
  private tickElection(m: Member): void {
    const e = this.config!.electionTick;
    if (m.raft.status().role === 'leader') {
      for (let i = 0; i < e; i++) m.raft.tick();
      return;
    }
    const before = m.draws.count;
    for (let i = 0; i < 2 * e && m.draws.count === before; i++) m.raft.tick();
  }

  private propose(cmd: Command): void {
    cmd.allowOnly([], 2);
    const m = this.member(cmd, 0);
    const data = cmd.positional()[1];
    if (data === undefined) throw cmd.error('usage: propose <id> <data>');
    if (data.includes(','))
      throw cmd.error('data may not contain "," (it separates snapshot items)');
    this.print(formatOutcome(m.raft.propose(enc(data))));
  }

  private proposeConfChange(cmd: Command): void {
    cmd.allowOnly([], 4);
    const m = this.member(cmd, 0);
    const [, type, target, context] = cmd.positional();
    if (type === undefined || target === undefined) {
      throw cmd.error(
        `usage: propose-conf-change <id> ${confChangeTypes.join('|')} <member> [context]`,
      );
    }
    if (!confChangeTypes.includes(type)) {
      throw cmd.error(`change type must be one of ${confChangeTypes.join(', ')}, got "${type}"`);
    }
    const out = m.raft.proposeConfChange({
      type: type as ConfChangeType,
      member: memberId(cmd.int(target, 'member')),
      context: context ?? '',
    });
    this.print(formatOutcome(out));
  }

  // ---- the Ready loop and the network ----

  /** Persist, send, apply, advance — the order the core's contract demands. */
  private processReady(m: Member): boolean {
    if (!m.raft.hasReady()) {
      this.print(`> ${m.id} has no Ready`);
      return false;
    }
    const rd = m.raft.ready();
    this.print(`> ${m.id} handling Ready${rd.mustSync ? ' (must sync)' : ''}`);
    // A message sent across a cut link is lost at once; one already in flight when the link is
    // cut is lost when delivered (see deliver()).
    const cut = (msg: Message): boolean => this.isolated.has(msg.from) || this.isolated.has(msg.to);
    this.indented(() => {
      this.flushLogs();
      this.printReady(rd, cut);
    });
    const s = m.storage;
    if (rd.snapshot !== null) {
      s.snapshot = rd.snapshot;
      s.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      s.entries = [...s.entries.filter((e) => e.index < first), ...rd.entries];
    }
    if (rd.hardState !== null) s.hardState = rd.hardState;
    this.network.push(...rd.messages.filter((msg) => !cut(msg)));
    if (rd.snapshot !== null) m.app = decodeApp(rd.snapshot.data);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.byteLength > 0) m.app.push(dec(e.data));
    }
    m.raft.advance();
    this.indented(() => {
      this.flushLogs();
    });
    return true;
  }

  private printReady(rd: Ready, cut: (m: Message) => boolean): void {
    if (rd.softState !== null) {
      this.print(`soft: role=${rd.softState.role} leader=${rd.softState.leader}`);
    }
    if (rd.hardState !== null) {
      const h = rd.hardState;
      this.print(`hard: term=${h.term} vote=${h.vote} commit=${h.commit}`);
    }
    if (rd.snapshot !== null) this.print(`snapshot: ${formatSnapshot(rd.snapshot)}`);
    const section = (title: string, lines: readonly string[]): void => {
      if (lines.length === 0) return;
      this.print(`${title}:`);
      this.indented(() => {
        for (const l of lines) this.print(l);
      });
    };
    section('entries', rd.entries.map(formatEntry));
    section('committed', rd.committedEntries.map(formatEntry));
    section(
      'messages',
      rd.messages.map((m) => `${formatMessage(m)}${cut(m) ? ' DROPPED (partition)' : ''}`),
    );
    section(
      'read-states',
      rd.readStates.map((r) => `index=${r.index} ctx=${quote(r.context)}`),
    );
  }

  private deliverMsgs(cmd: Command): void {
    cmd.allowOnly(['drop', 'type', 'from'], Infinity);
    const drop = cmd.namedBool('drop', false);
    const type = cmd.namedString('type');
    if (type !== undefined && !messageTypes.includes(type)) {
      throw cmd.error(`type must be one of ${messageTypes.join(', ')}, got "${type}"`);
    }
    const fromArg = cmd.namedString('from');
    const from = fromArg === undefined ? undefined : cmd.int(fromArg, 'from');
    const n = cmd.positional().length;
    if (n === 0) throw cmd.error('needs at least one member id');
    this.cfg(cmd);
    for (let i = 0; i < n; i++) {
      const to = this.idArg(cmd, i);
      const got = this.deliver(
        to,
        (m) => (type === undefined || m.type === type) && (from === undefined || m.from === from),
        drop,
      );
      if (got === 0) this.print(`> ${to} has no messages`);
    }
  }

  /** Delivers (or drops) the queued messages to `to` that match, in send order. */
  private deliver(to: MemberId, match: (m: Message) => boolean, drop: boolean): number {
    const mine = this.network.filter((m) => m.to === to && match(m));
    if (mine.length === 0) return 0;
    this.network = this.network.filter((m) => !mine.includes(m));
    this.print(`> ${to} receiving messages`);
    this.indented(() => {
      for (const msg of mine) {
        const line = formatMessage(msg);
        const target = this.members.get(to);
        if (drop) {
          this.print(`${line} DROPPED`);
        } else if (this.isolated.has(msg.from) || this.isolated.has(to)) {
          this.print(`${line} DROPPED (partition)`);
        } else if (target === undefined) {
          this.print(`${line} DROPPED (no member ${to})`);
        } else {
          this.print(line);
          target.raft.step(msg);
          this.indented(() => {
            this.flushLogs();
          });
        }
      }
    });
    return mine.length;
  }

  /**
   * Handles Readys and delivers messages until nothing moves; limited to the given members when
   * some are named (messages to others stay in the network). With quiet=true it prints only each
   * member's resulting state.
   */
  private stabilize(cmd: Command): void {
    cmd.allowOnly(['quiet'], Infinity);
    this.cfg(cmd);
    const named = cmd.positional().length > 0 ? this.memberList(cmd) : undefined;
    if (cmd.namedBool('quiet', false)) {
      // Setup steps: run the same loop, keep only where it ended.
      const saved = this.out;
      this.out = [];
      try {
        this.stabilizeLoop(cmd, named);
      } finally {
        this.logs = [];
        this.out = saved;
      }
      for (const m of named ?? this.ids().map((id) => this.members.get(id)!)) {
        const s = m.raft.status();
        this.print(
          `${s.id}: ${s.role} term=${s.term} leader=${s.leader} commit=${s.commit}` +
            ` applied=${s.applied} last=${s.lastIndex}`,
        );
      }
      return;
    }
    this.stabilizeLoop(cmd, named);
  }

  private stabilizeLoop(cmd: Command, named: Member[] | undefined): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      const members = named ?? this.ids().map((id) => this.members.get(id)!);
      for (const m of members) {
        if (m.raft.hasReady()) moved = this.processReady(m) || moved;
      }
      const targets =
        named === undefined
          ? [...new Set([...this.ids(), ...this.network.map((m) => m.to)])].sort((a, b) => a - b)
          : members.map((m) => m.id);
      for (const to of targets) {
        if (this.deliver(to, () => true, false) > 0) moved = true;
      }
      if (!moved) return;
    }
    throw cmd.error('did not stabilize within 1000 rounds');
  }

  // ---- inspection and storage ----

  private status(m: Member): void {
    const s = m.raft.status();
    this.print(
      `${s.id}: ${s.role} term=${s.term} vote=${s.vote} leader=${s.leader} commit=${s.commit}` +
        ` applied=${s.applied} first=${s.firstIndex} last=${s.lastIndex}`,
    );
    this.indented(() => {
      this.print(`conf: ${formatConf(s.conf)}`);
      this.print(`state machine: ${list0(m.app)}`);
      if (s.transferee !== 0) this.print(`transferring leadership to ${s.transferee}`);
      for (const id of [...s.progress.keys()].sort((a, b) => a - b)) {
        const p = s.progress.get(id)!;
        const flags = `${p.learner ? ' learner' : ''}${p.recentActive ? '' : ' inactive'}`;
        this.print(`progress ${id}: match=${p.match} next=${p.next} ${p.state}${flags}`);
      }
    });
  }

  private raftLog(m: Member): void {
    const s = m.raft.status();
    this.print(
      `${s.id}: first=${s.firstIndex} last=${s.lastIndex} commit=${s.commit} applied=${s.applied}`,
    );
    this.indented(() => {
      for (const e of m.raft.logEntries()) this.print(formatEntry(e));
    });
  }

  /** A snapshot of the state machine at the applied index, kept on the member's disk. */
  private snapshot(m: Member): void {
    const applied = m.raft.status().applied;
    const snap = m.raft.createSnapshot(applied, enc(m.app.join(',')));
    m.storage.snapshot = snap;
    this.print(`${m.id} saved snapshot ${formatSnapshot(snap)}`);
  }

  private compact(cmd: Command): void {
    cmd.allowOnly([], 2);
    const m = this.member(cmd, 0);
    const iArg = cmd.positional()[1];
    if (iArg === undefined) throw cmd.error('usage: compact <id> <index>');
    const index = cmd.int(iArg, 'index');
    m.raft.compact(index);
    m.storage.entries = m.storage.entries.filter((e) => e.index > index);
    const s = m.raft.status();
    this.print(`${m.id} compacted: log now first=${s.firstIndex} last=${s.lastIndex}`);
  }
}

const decodeApp = (data: Uint8Array): string[] => {
  const s = dec(data);
  return s === '' ? [] : s.split(',');
};

const list0 = (items: readonly string[]): string => `(${items.join(',')})`;
