// ConfChange entries carry their change as a tiny self-describing encoding, so the core can apply
// them without any outside codec.
import { memberId, type ConfChange, type ConfChangeType } from './types.js';

const types: readonly ConfChangeType[] = ['add-voter', 'add-learner', 'promote', 'remove'];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeConfChange = (cc: ConfChange): Uint8Array =>
  encoder.encode(JSON.stringify([cc.type, cc.member, cc.context]));

export const decodeConfChange = (data: Uint8Array): ConfChange => {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    !types.includes(v[0] as ConfChangeType) ||
    typeof v[1] !== 'number' ||
    typeof v[2] !== 'string'
  ) {
    throw new Error('corrupt conf change entry');
  }
  return { type: v[0] as ConfChangeType, member: memberId(v[1]), context: v[2] };
};
