// The way back: a parsed manifest as the YAML a person would write, with every field explicit, so
// `tug inspect -o yaml` output can be edited and re-applied, and round trips can be tested.

import { stringify } from 'yaml';

import type { Resources } from '../model.js';
import { apiVersion } from './parse.js';
import type { Manifest } from './parse.js';
import { formatBytes, formatDurationMs } from './units.js';

const resources = (r: Resources): Record<string, unknown> => ({
  ...(r.cpus === undefined ? {} : { cpus: r.cpus }),
  ...(r.memoryBytes === undefined ? {} : { memory: formatBytes(r.memoryBytes) }),
  ...(r.pids === undefined ? {} : { pids: r.pids }),
});

/** The manifest as a plain object in the `tug/v1` schema (what `parseManifests` reads). */
export const manifestToDocument = (m: Manifest): Record<string, unknown> => {
  const metadata = { name: m.name, labels: { ...m.labels } };
  if (m.kind === 'Network') {
    return { apiVersion, kind: m.kind, metadata, spec: { ...m.spec } };
  }
  const { container: c, mode, placement, restartPolicy: rp, update } = m.spec;
  const hc = c.healthcheck;
  return {
    apiVersion,
    kind: m.kind,
    metadata,
    spec: {
      image: c.image,
      ...(c.command === undefined ? {} : { command: [...c.command] }),
      ...(c.args === undefined ? {} : { args: [...c.args] }),
      env: { ...c.env },
      ...(c.workdir === undefined ? {} : { workdir: c.workdir }),
      ...(c.user === undefined ? {} : { user: c.user }),
      readOnlyRootfs: c.readOnlyRootfs,
      ...(c.mounts === undefined
        ? {}
        : {
            mounts: c.mounts.map((x) => ({
              type: 'bind',
              source: x.source,
              target: x.target,
              readOnly: x.readOnly,
            })),
          }),
      ...(c.userNamespace === undefined ? {} : { userNamespace: c.userNamespace }),
      stopGracePeriod: formatDurationMs(c.stopGracePeriodMs),
      ports: m.spec.ports.map((p) => ({ ...p })),
      resources: {
        limits: resources(m.spec.resources.limits),
        reservations: resources(m.spec.resources.reservations),
      },
      networks: [...m.spec.networks],
      placement: {
        constraints: [...placement.constraints],
        maxReplicasPerNode: placement.maxReplicasPerNode,
        ...(placement.preferences === undefined || placement.preferences.length === 0
          ? {}
          : { preferences: placement.preferences.map((p) => ({ spread: p.spread })) }),
      },
      restartPolicy: {
        condition: rp.condition,
        delay: formatDurationMs(rp.delayMs),
        maxAttempts: rp.maxAttempts,
        window: formatDurationMs(rp.windowMs),
      },
      ...(hc === undefined
        ? {}
        : {
            healthcheck: {
              command: [...hc.command],
              interval: formatDurationMs(hc.intervalMs),
              timeout: formatDurationMs(hc.timeoutMs),
              retries: hc.retries,
              startPeriod: formatDurationMs(hc.startPeriodMs),
            },
          }),
      update: {
        parallelism: update.parallelism,
        delay: formatDurationMs(update.delayMs),
        order: update.order,
        ...(update.failureAction === undefined ? {} : { failureAction: update.failureAction }),
        ...(update.monitorMs === undefined ? {} : { monitor: formatDurationMs(update.monitorMs) }),
        ...(update.maxFailureRatio === undefined
          ? {}
          : { maxFailureRatio: update.maxFailureRatio }),
      },
      mode: mode.type,
      ...(mode.type === 'replicated' ? { replicas: mode.replicas } : {}),
    },
  };
};

/** Several manifests as one multi-document YAML text. */
export const renderManifests = (manifests: readonly Manifest[]): string =>
  manifests.map((m) => stringify(manifestToDocument(m))).join('---\n');
