// Task logs on the agent (reading, following, rotation) and its side of the log broker: public
// surface (docs/agent.md, "Logs and stats").
export { AgentLogService, type AgentLogServiceDeps, type TaskFigures } from './service.js';
export {
  LineDecoder,
  followLog,
  generations,
  parseTimeMs,
  readLog,
  type FollowOptions,
  type LogLine,
  type ReadOptions,
} from './reader.js';
export { LogRotator, pinGeneration, removeLog, type LogRotatorDeps } from './rotate.js';
export {
  InvalidTaskLogNameError,
  isTaskLogName,
  removeTaskLogs,
  taskLogDirs,
  unkeptLogs,
  type LogKeep,
} from './prune.js';
