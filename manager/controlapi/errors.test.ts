import test from 'ava';
import { status } from '@grpc/grpc-js';
import { ManifestInvalidError } from '../../common/manifest/parse.js';
import { NONE, memberId } from '../raft/core/index.js';
import {
  NotLeaderError,
  ProposalDroppedError,
  ProposalRejectedError,
  RaftStoppedError,
} from '../raft/errors.js';
import { StoreApplyError, WatchResetError } from '../store/index.js';
import {
  ControlError,
  LEADER_METADATA,
  NOT_LEADER_METADATA,
  WriteDeadlineError,
  fromRefusal,
  toStatus,
} from './errors.js';

test('toStatus: maps every error and refusal to its code', (t) => {
  const cases: [unknown, status][] = [
    [fromRefusal({ ok: false, code: 'conflict', message: 'x', change: 0 }), status.ABORTED],
    [fromRefusal({ ok: false, code: 'exists', message: 'x', change: 0 }), status.ALREADY_EXISTS],
    [fromRefusal({ ok: false, code: 'not-found', message: 'x', change: 0 }), status.NOT_FOUND],
    [fromRefusal({ ok: false, code: 'invalid', message: 'x', change: 0 }), status.INVALID_ARGUMENT],
    [new ControlError('failed-precondition', 'x'), status.FAILED_PRECONDITION],
    [new NotLeaderError(NONE), status.UNAVAILABLE],
    [new RaftStoppedError(), status.UNAVAILABLE],
    [new ProposalDroppedError(3), status.UNAVAILABLE],
    [new ProposalRejectedError('busy'), status.UNAVAILABLE],
    [new ProposalRejectedError('invalid'), status.INVALID_ARGUMENT],
    [new WatchResetError('watch-compacted', 1, 'x'), status.OUT_OF_RANGE],
    [new StoreApplyError('x'), status.INTERNAL],
    [new WriteDeadlineError(10), status.DEADLINE_EXCEEDED],
    [new Error('boom'), status.INTERNAL],
    ['not even an error', status.INTERNAL],
  ];
  for (const [err, code] of cases) t.is(toStatus(err).code, code, String(err));
});

test('toStatus: manifest errors are listed one per line with file, line and field', (t) => {
  const s = toStatus(
    new ManifestInvalidError([
      {
        file: 'a.yaml',
        line: 3,
        column: 5,
        field: 'spec.image',
        code: 'missing-field',
        message: 'required',
      },
      { file: 'b.yaml', line: 1, column: 1, field: '', code: 'syntax', message: 'bad yaml' },
    ]),
  );
  t.is(s.code, status.INVALID_ARGUMENT);
  t.is(s.details, 'a.yaml:3:5: spec.image: required\nb.yaml:1:1: bad yaml');
});

test('toStatus: not-leader carries the leader in metadata and conflicts say to re-read', (t) => {
  const s = toStatus(new NotLeaderError(memberId(2)));
  t.deepEqual(s.metadata?.get(LEADER_METADATA), ['2']);
  // Marked as never proposed, so forwarding may send it again; other UNAVAILABLEs are not.
  t.deepEqual(s.metadata?.get(NOT_LEADER_METADATA), ['true']);
  t.is(toStatus(new ProposalDroppedError(3)).metadata, undefined);
  const c = toStatus(
    fromRefusal({
      ok: false,
      code: 'conflict',
      message: 'service s is at version 4, not 3',
      change: 0,
    }),
  );
  t.regex(c.details ?? '', /version 4, not 3: it changed since it was read/);
});
