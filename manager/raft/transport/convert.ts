// The one place that maps the core's Raft types to the generated wire types of proto/raft.proto
// and back. Going out, the core is trusted; coming in, everything is checked and a bad field is
// named in a RaftTransportError('invalid-message').
import {
  EntryType,
  MessageType,
  memberId,
  type ConfState,
  type Entry,
  type MemberId,
  type Message,
  type Snapshot,
} from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { RaftTransportError, TransportErrorCode } from './errors.js';

const messageTypeToProto: Readonly<Record<MessageType, pb.MessageType>> = {
  [MessageType.App]: pb.MessageType.MESSAGE_TYPE_APP,
  [MessageType.AppResp]: pb.MessageType.MESSAGE_TYPE_APP_RESP,
  [MessageType.Vote]: pb.MessageType.MESSAGE_TYPE_VOTE,
  [MessageType.VoteResp]: pb.MessageType.MESSAGE_TYPE_VOTE_RESP,
  [MessageType.PreVote]: pb.MessageType.MESSAGE_TYPE_PRE_VOTE,
  [MessageType.PreVoteResp]: pb.MessageType.MESSAGE_TYPE_PRE_VOTE_RESP,
  [MessageType.Heartbeat]: pb.MessageType.MESSAGE_TYPE_HEARTBEAT,
  [MessageType.HeartbeatResp]: pb.MessageType.MESSAGE_TYPE_HEARTBEAT_RESP,
  [MessageType.Snap]: pb.MessageType.MESSAGE_TYPE_SNAP,
  [MessageType.TimeoutNow]: pb.MessageType.MESSAGE_TYPE_TIMEOUT_NOW,
  [MessageType.ReadIndex]: pb.MessageType.MESSAGE_TYPE_READ_INDEX,
  [MessageType.ReadIndexResp]: pb.MessageType.MESSAGE_TYPE_READ_INDEX_RESP,
};

// Indexed by wire number; built from the table above so the two directions cannot disagree.
const messageTypeFromProto = new Map<number, MessageType>(
  Object.entries(messageTypeToProto).map(([core, wire]) => [wire, core as MessageType]),
);

const entryTypeToProto: Readonly<Record<EntryType, pb.EntryType>> = {
  [EntryType.Normal]: pb.EntryType.ENTRY_TYPE_NORMAL,
  [EntryType.ConfChange]: pb.EntryType.ENTRY_TYPE_CONF_CHANGE,
};

const entryTypeFromProto = new Map<number, EntryType>(
  Object.entries(entryTypeToProto).map(([core, wire]) => [wire, core as EntryType]),
);

const invalid = (field: string, problem: string): RaftTransportError =>
  new RaftTransportError(TransportErrorCode.InvalidMessage, `${field}: ${problem}`);

/** A zero-copy Buffer view of core bytes (the generated code wants Buffer). */
export const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

// The core speaks plain Uint8Array; hand it a view, not a Buffer, so equality and
// serialization never depend on which subclass came off the wire.
const fromBuffer = (bytes: Buffer): Uint8Array =>
  new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const member = (field: string, n: number): MemberId => {
  if (!Number.isSafeInteger(n) || n <= 0) throw invalid(field, `not a member id: ${String(n)}`);
  return memberId(n);
};

const members = (field: string, ns: readonly number[]): MemberId[] =>
  ns.map((n, i) => member(`${field}[${i}]`, n));

export const entryToProto = (e: Entry): pb.Entry => ({
  term: e.term,
  index: e.index,
  type: entryTypeToProto[e.type],
  data: toBuffer(e.data),
});

export const entryFromProto = (e: pb.Entry, field = 'entry'): Entry => {
  const type = entryTypeFromProto.get(e.type);
  if (type === undefined) throw invalid(`${field}.type`, `unknown entry type ${e.type}`);
  return { term: e.term, index: e.index, type, data: fromBuffer(e.data) };
};

export const confStateToProto = (c: ConfState): pb.ConfState => ({
  voters: [...c.voters],
  learners: [...c.learners],
  removed: [...c.removed],
});

export const confStateFromProto = (c: pb.ConfState, field = 'conf'): ConfState => ({
  voters: members(`${field}.voters`, c.voters),
  learners: members(`${field}.learners`, c.learners),
  removed: members(`${field}.removed`, c.removed),
});

export const snapshotToProto = (s: Snapshot): pb.Snapshot => ({
  metadata: {
    index: s.metadata.index,
    term: s.metadata.term,
    conf: confStateToProto(s.metadata.conf),
  },
  data: toBuffer(s.data),
});

export const snapshotFromProto = (s: pb.Snapshot, field = 'snapshot'): Snapshot => {
  const md = s.metadata;
  if (md === undefined) throw invalid(`${field}.metadata`, 'missing');
  if (md.conf === undefined) throw invalid(`${field}.metadata.conf`, 'missing');
  return {
    metadata: {
      index: md.index,
      term: md.term,
      conf: confStateFromProto(md.conf, `${field}.metadata.conf`),
    },
    data: fromBuffer(s.data),
  };
};

export const messageToProto = (m: Message): pb.Message => ({
  type: messageTypeToProto[m.type],
  from: m.from,
  to: m.to,
  term: m.term,
  logTerm: m.logTerm,
  index: m.index,
  entries: m.entries.map(entryToProto),
  commit: m.commit,
  reject: m.reject,
  rejectHint: m.rejectHint,
  logTermHint: m.logTermHint,
  snapshot: m.snapshot === null ? undefined : snapshotToProto(m.snapshot),
  context: toBuffer(m.context),
});

export const messageFromProto = (m: pb.Message, field = 'message'): Message => {
  const type = messageTypeFromProto.get(m.type);
  if (type === undefined) throw invalid(`${field}.type`, `unknown message type ${m.type}`);
  if (type === MessageType.Snap && m.snapshot === undefined) {
    throw invalid(`${field}.snapshot`, 'missing on a snap message');
  }
  return {
    type,
    from: member(`${field}.from`, m.from),
    to: member(`${field}.to`, m.to),
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e, i) => entryFromProto(e, `${field}.entries[${i}]`)),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    logTermHint: m.logTermHint,
    snapshot: m.snapshot === undefined ? null : snapshotFromProto(m.snapshot, `${field}.snapshot`),
    context: fromBuffer(m.context),
  };
};
