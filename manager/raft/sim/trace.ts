// One-line descriptions of messages, Ready batches and member state for the simulator's event log.
import { MessageType, type Message, type Raft, type Ready } from '../core/index.js';

export const fingerprint = (r: Raft): string => {
  const s = r.status();
  return `term ${s.term} vote ${s.vote} ${s.role} leader ${s.leader} commit ${s.commit} last ${s.lastIndex}`;
};

export const describeMessage = (m: Message): string => {
  let s = `${m.type} m${m.from}->m${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.App:
      s += ` prev ${m.index}/t${m.logTerm} n${m.entries.length} commit ${m.commit}`;
      break;
    case MessageType.AppResp:
      s += m.reject
        ? ` reject ${m.index} hint ${m.rejectHint}/t${m.logTermHint}`
        : ` ok ${m.index}`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` last ${m.index}/t${m.logTerm}${m.context.byteLength > 0 ? ' transfer' : ''}`;
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      s += m.reject ? ' reject' : ' grant';
      break;
    case MessageType.Heartbeat:
      s += ` commit ${m.commit}`;
      break;
    case MessageType.Snap:
      s += ` snapshot ${m.snapshot?.metadata.index}/t${m.snapshot?.metadata.term}`;
      break;
    case MessageType.ReadIndexResp:
      s += ` index ${m.index}`;
      break;
  }
  return s;
};

export const describeReady = (rd: Ready): string => {
  const parts: string[] = [];
  if (rd.softState !== null) parts.push(`soft ${rd.softState.role}/leader ${rd.softState.leader}`);
  if (rd.hardState !== null) {
    parts.push(`hard t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit}`);
  }
  if (rd.snapshot !== null)
    parts.push(`snapshot ${rd.snapshot.metadata.index}/t${rd.snapshot.metadata.term}`);
  if (rd.entries.length > 0) {
    parts.push(`entries ${rd.entries[0]!.index}..${rd.entries.at(-1)!.index}`);
  }
  if (rd.committedEntries.length > 0) {
    parts.push(`apply ${rd.committedEntries[0]!.index}..${rd.committedEntries.at(-1)!.index}`);
  }
  if (rd.messages.length > 0) parts.push(`${rd.messages.length} msgs`);
  if (rd.readStates.length > 0) parts.push(`${rd.readStates.length} reads`);
  if (rd.mustSync) parts.push('sync');
  return parts.join(', ');
};
