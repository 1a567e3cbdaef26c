/**
 * State of the offloaded-traffic capture (CaptureStart/Stop/Status, src/grpc/dp_grpc_impl.c):
 * whether it runs, where mirrored packets go and which ports are mirrored. The mirroring itself
 * belongs to the dataplane (it follows the `capture-*` change events).
 *
 * Upstream only captures what the NIC offloads: with offloading disabled every start is
 * NOT_ACTIVE. A start while running is ALREADY_ACTIVE; an unknown port is NOT_FOUND and leaves
 * capturing off (upstream's rollback). Control path only.
 */
import { DpError, DpErrorCode } from './errors.js';
import type { CaptureSettings, CaptureStatusInfo, CaptureTarget } from './registry-types.js';

/** Interfaces one capture may mirror (DP_CAPTURE_MAX_PORT_NUM). */
export const CAPTURE_MAX_INTERFACES = 16;
/** PFs a host has (pf_index 0 and 1). */
export const PF_COUNT = 2;

/** A captured port: a PF by index or a VF by its VM port. */
export type CapturedPort = { readonly kind: 'pf'; readonly pfIndex: number } | { readonly kind: 'vf'; readonly port: number };

const INACTIVE: CaptureStatusInfo = Object.freeze({
  active: false,
  sink: new Uint8Array(16),
  udpSrcPort: 0,
  udpDstPort: 0,
  targets: [],
});

export class CaptureState {
  private settings: CaptureSettings | undefined;
  private ports: CapturedPort[] = [];

  constructor(private readonly offload: boolean) {}

  get active(): boolean {
    return this.settings !== undefined;
  }

  /**
   * Starts capturing. `resolveVf` maps an interface id to its VM port (undefined = unknown).
   * Errors: NOT_ACTIVE without offloading, ALREADY_ACTIVE, NOT_FOUND for an unknown PF index or
   * interface (nothing captured then).
   */
  start(settings: CaptureSettings, resolveVf: (interfaceId: string) => number | undefined): void {
    if (!this.offload) throw new DpError(DpErrorCode.NOT_ACTIVE, 'capturing needs offloading (--no-offload is set)');
    if (this.settings !== undefined) throw new DpError(DpErrorCode.ALREADY_ACTIVE, 'capturing is already running');
    const pfs = new Set<number>();
    const vfs = new Set<number>();
    for (const t of settings.targets) {
      if (t.kind === 'pf') {
        if (t.pfIndex >= PF_COUNT) throw new DpError(DpErrorCode.NOT_FOUND, `no PF with index ${t.pfIndex}`);
        pfs.add(t.pfIndex);
      } else {
        const port = resolveVf(t.interfaceId);
        if (port === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no interface '${t.interfaceId}' to capture`);
        vfs.add(port);
      }
    }
    this.settings = { ...settings, sink: settings.sink.slice(0, 16), targets: [...settings.targets] };
    this.ports = [
      ...[...pfs].sort((a, b) => a - b).map((pfIndex): CapturedPort => ({ kind: 'pf', pfIndex })),
      ...[...vfs].sort((a, b) => a - b).map((port): CapturedPort => ({ kind: 'vf', port })),
    ];
  }

  /** Stops capturing; returns how many ports were mirrored. NOT_ACTIVE when not running. */
  stop(): number {
    if (this.settings === undefined) throw new DpError(DpErrorCode.NOT_ACTIVE, 'capturing is not running');
    const n = this.ports.length;
    this.settings = undefined;
    this.ports = [];
    return n;
  }

  /** A VM port lost its interface: it is no longer captured. */
  forgetPort(port: number): void {
    this.ports = this.ports.filter((p) => p.kind !== 'vf' || p.port !== port);
  }

  /** The status, with VF ports named by `nameVf` (their interface id). */
  status(nameVf: (port: number) => string): CaptureStatusInfo {
    const s = this.settings;
    if (s === undefined) return INACTIVE;
    const targets = this.ports.map(
      (p): CaptureTarget => (p.kind === 'pf' ? { kind: 'pf', pfIndex: p.pfIndex } : { kind: 'vf', interfaceId: nameVf(p.port) }),
    );
    return { active: true, sink: s.sink, udpSrcPort: s.udpSrcPort, udpDstPort: s.udpDstPort, targets };
  }
}
