// Health checks of running containers: the pure health state (Docker's rules) and the monitor that
// runs a check on its interval and reports status changes.

export {
  applyProbe,
  describeProbe,
  effectiveCheck,
  healthcheckDefaults,
  HealthStatus,
  initialHealth,
  MAX_LOG_ENTRIES,
  MAX_OUTPUT_CHARS,
  PROBE_ERROR_EXIT_CODE,
} from './health-state.js';
export type {
  EffectiveHealthcheck,
  Health,
  HealthState,
  ProbeOutcome,
  ProbeResult,
} from './health-state.js';
export { EXEC_GRACE_MS, HealthMonitor } from './health-monitor.js';
export type { HealthExec, HealthMonitorOptions } from './health-monitor.js';
