// The leader's log broker and per-task figures, and their follower relay: public surface.
export {
  LEADER_ADDRESS_METADATA,
  LOGS_ERROR_METADATA,
  LogBroker,
  LogBrokerError,
  NOT_LEADER_METADATA,
  toGrpc,
  type LogBrokerDeps,
} from './broker.js';
export { FORWARDED_METADATA, LogsRelay, type RelayDeps } from './relay.js';
