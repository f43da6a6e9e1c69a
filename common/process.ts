// What every long-running tug process does on SIGTERM/SIGINT: stop cleanly once, exit 0, or exit 1
// if stopping failed.

export const stopOnSignals = (
  who: string,
  stop: () => Promise<void>,
  log: (line: string) => void,
): void => {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`${who}: ${sig}, stopping`);
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log(`${who}: error while stopping: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
};
