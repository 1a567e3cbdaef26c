/**
 * The supervisor actor: starts the other actors in order (logging, dataplane, control, metrics),
 * and stops them in reverse on SIGINT/SIGTERM: gRPC drains first so no change lands half-way, then
 * workers leave their poll loops, then ports stop (TAP devices go away) and EAL is cleaned up.
 */
import type { Logger } from 'pino';
import type { ServiceOptions } from '../config/options.js';
import { VERSION } from '../config/options.js';
import { type ControlServer, startControl } from './control.js';
import { Dataplane } from './dataplane.js';
import { createLogger, loggerFor } from './logging.js';
import { type MetricsServer, startMetrics } from './metrics.js';
import { serviceSources, Telemetry } from './telemetry.js';

export interface Supervisor {
  log: Logger;
  /** Resolves with an exit code if the service must stop on its own (a worker died). */
  fatal: Promise<number>;
  dataplane: Dataplane;
  control: ControlServer;
  metrics?: MetricsServer;
  stop(): Promise<void>;
}

export async function startSupervisor(opts: ServiceOptions, ealArgs: string[]): Promise<Supervisor> {
  const root = createLogger({ format: opts.logFormat, color: opts.color });
  const log = loggerFor(root, 'service');
  log.info({ version: VERSION, eal: ealArgs.join(' ') }, 'starting dpservice-ts');
  const dataplane = new Dataplane(opts, root);
  try {
    await dataplane.start(ealArgs);
  } catch (err) {
    await dataplane.stop().catch(() => undefined);
    throw err;
  }
  let control: ControlServer;
  try {
    control = await startControl({
      port: opts.grpcPort, version: VERSION, dataplane, log: root,
      registry: {
        // upstream meters only on Mellanox NICs; elsewhere rates are accepted and read back as 0
        meteringSupported: opts.nicType === 'mellanox',
        // capture mirrors offloaded traffic: without offload it is NOT_ACTIVE, as upstream
        offload: !opts.noOffload,
        vfName: (port, dev) => dataplane.portByNumber(port)?.ifname || dev,
      },
    });
  } catch (err) {
    await dataplane.stop();
    throw err;
  }
  // upstream's /dp_service/... commands on DPDK's telemetry socket
  const sources = serviceSources(dataplane, () => control.registry.usage());
  const telemetry = new Telemetry(dataplane.dpdk, sources, root);
  telemetry.start();
  // the forwarding tables follow every committed registry change before its RPC answers, and so
  // does telemetry
  control.registry.changes.subscribe(async (changes) => {
    await dataplane.applyChanges(changes);
    telemetry.refresh();
  });
  const metrics = opts.metricsPort > 0 ? await startMetrics({
    port: opts.metricsPort, dataplane, sources, calls: () => control.callCounts(), log: root,
  }) : undefined;
  log.info({ grpcPort: control.port, uuid: control.uuid }, 'gRPC server listening');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('shutting down');
      await control.close().catch((e: Error) => log.error({ err: e.message }, 'gRPC close failed'));
      telemetry.stop();
      await metrics?.close();
      await dataplane.stop();
    })();
    return stopping;
  };
  const fatal = new Promise<number>((resolve) => {
    dataplane.onFatal = (reason) => {
      log.error({ reason }, 'fatal dataplane error, stopping');
      void stop().finally(() => resolve(1));
    };
  });
  return { log, dataplane, control, metrics, stop, fatal };
}
