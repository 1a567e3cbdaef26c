/**
 * The one koffi binding of native/dpshim.c. Loaded by the supervisor and by every worker thread;
 * every function is declared once here at load time. Hot functions (rx/tx/alloc/free) take
 * preallocated Uint32Array arrays of mbuf offsets: one FFI crossing per burst, never per packet.
 * The mbuf fields a packet needs are read and written in place through MbufFields.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// koffi ships CommonJS with a prebuilt binary; require keeps its native loading path simple.
const koffi = require('koffi') as typeof import('koffi');

/** Where the shared object is: build/native/libdpshim.so at the project root, or $DPS_SHIM. */
export function shimPath(): string {
  const fromEnv = process.env['DPS_SHIM'];
  if (fromEnv) return fromEnv;
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/ffi -> project root; src/ffi (when run from sources) -> project root
  for (const up of ['../../..', '../..']) {
    const p = resolve(here, up, 'build/native/libdpshim.so');
    if (existsSync(p)) return p;
  }
  return resolve(here, '../../../build/native/libdpshim.so');
}

export interface PoolInfo {
  /** Length in bytes of the region that holds every mbuf. */
  regionLen: number;
  /** Bytes from an mbuf header to its data buffer. */
  bufShift: number;
  /** Size of the data buffer (headroom included). */
  bufLen: number;
  headroom: number;
  mbufs: number;
  available: number;
}

export interface PortStats {
  ipackets: bigint; opackets: bigint; ibytes: bigint; obytes: bigint;
  imissed: bigint; ierrors: bigint; oerrors: bigint; rxNombuf: bigint;
}

/** The bound shim. Create one per thread with {@link loadShim}. */
export class Dpdk {
  readonly ealInit: (argc: number, argv: string[]) => number;
  readonly ealCleanup: () => number;
  readonly strerror: (err: number) => string;
  readonly mainLcore: () => number;
  readonly lcoresRaw: (out: Int32Array, max: number) => number;
  readonly lcoreCpu: (lcore: number) => number;
  readonly poolCreate: (nb: number, cache: number, dataRoom: number) => number;
  readonly poolBaseRaw: () => unknown;
  readonly poolInfoRaw: (out: Uint32Array) => number;
  readonly portByName: (name: string) => number;
  readonly portCount: () => number;
  readonly portNameRaw: (port: number, out: Buffer, len: number) => number;
  readonly portIfnameRaw: (port: number, out: Buffer, len: number) => number;
  readonly portSetup: (port: number, queues: number, rxd: number, txd: number) => number;
  readonly portStop: (port: number) => number;
  readonly portClose: (port: number) => number;
  readonly portMacRaw: (port: number, out: Uint8Array) => number;
  readonly portLinkRaw: (port: number, out: Uint32Array) => number;
  readonly portStatsRaw: (port: number, out: BigUint64Array) => number;
  readonly threadRegister: (cpu: number) => number;
  readonly threadUnregister: () => void;
  readonly mbufLayoutRaw: (out: Uint32Array) => number;
  /** rx: (queue, ports, nports, mbuf offsets out, max, perPort) -> packets received */
  readonly rxBurst: (qid: number, ports: Uint16Array, nports: number, out: Uint32Array, max: number, perPort: number) => number;
  /** tx: (queue, mbuf offsets, n) -> packets sent; unsent ones are freed by the shim */
  readonly txBurst: (qid: number, offs: Uint32Array, n: number) => number;
  readonly freeMbufs: (offs: Uint32Array, n: number) => number;
  /** Allocates n mbufs (all or none): offsets out, data_off = headroom; returns n or 0. */
  readonly allocMbufs: (offs: Uint32Array, n: number) => number;

  constructor(path: string) {
    const lib = koffi.load(path);
    this.ealInit = lib.func('int dps_eal_init(int argc, const char **argv)');
    this.ealCleanup = lib.func('int dps_eal_cleanup(void)');
    this.strerror = lib.func('const char *dps_strerror(int err)');
    this.mainLcore = lib.func('int dps_main_lcore(void)');
    this.lcoresRaw = lib.func('int dps_lcores(_Out_ int32_t *out, int max)');
    this.lcoreCpu = lib.func('int dps_lcore_cpu(int lcore)');
    this.poolCreate = lib.func('int dps_pool_create(uint32_t nb, uint32_t cache, uint32_t room)');
    this.poolBaseRaw = lib.func('void *dps_pool_base(void)');
    this.poolInfoRaw = lib.func('int dps_pool_info(_Out_ uint32_t *out)');
    this.portByName = lib.func('int dps_port_by_name(const char *name)');
    this.portCount = lib.func('int dps_port_count(void)');
    this.portNameRaw = lib.func('int dps_port_name(uint16_t port, _Out_ uint8_t *out, int len)');
    this.portIfnameRaw = lib.func('int dps_port_ifname(uint16_t port, _Out_ uint8_t *out, int len)');
    this.portSetup = lib.func('int dps_port_setup(uint16_t port, uint16_t q, uint16_t rxd, uint16_t txd)');
    this.portStop = lib.func('int dps_port_stop(uint16_t port)');
    this.portClose = lib.func('int dps_port_close(uint16_t port)');
    this.portMacRaw = lib.func('int dps_port_mac(uint16_t port, _Out_ uint8_t *out)');
    this.portLinkRaw = lib.func('int dps_port_link(uint16_t port, _Out_ uint32_t *out)');
    this.portStatsRaw = lib.func('int dps_port_stats(uint16_t port, _Out_ uint64_t *out)');
    this.threadRegister = lib.func('int dps_thread_register(int cpu)');
    this.threadUnregister = lib.func('void dps_thread_unregister(void)');
    this.mbufLayoutRaw = lib.func('int dps_mbuf_layout(_Out_ uint32_t *out)');
    this.rxBurst = lib.func('int dps_rx_burst(uint16_t qid, const uint16_t *ports, int nports, _Out_ uint32_t *out, int max, int per_port)');
    this.txBurst = lib.func('int dps_tx_burst(uint16_t qid, const uint32_t *offs, int n)');
    this.freeMbufs = lib.func('int dps_free_mbufs(const uint32_t *offs, int n)');
    this.allocMbufs = lib.func('int dps_alloc_mbufs(_Out_ uint32_t *offs, int n)');
  }

  /** Enabled lcores, main lcore included (control path, allocates). */
  lcores(): number[] {
    const out = new Int32Array(1024);
    const n = this.lcoresRaw(out, out.length);
    return Array.from(out.subarray(0, Math.min(n, out.length)));
  }

  poolInfo(): PoolInfo {
    const o = new Uint32Array(6);
    const rc = this.poolInfoRaw(o);
    if (rc !== 0) throw new Error(`mbuf pool not created (${rc})`);
    return { regionLen: o[0]!, bufShift: o[1]!, bufLen: o[2]!, headroom: o[3]!, mbufs: o[4]!, available: o[5]! };
  }

  /**
   * The whole mbuf region as one ArrayBuffer (zero-copy). Call once per thread: a view costs
   * about a microsecond and must never be made per packet.
   */
  poolView(): ArrayBuffer {
    const info = this.poolInfo();
    return koffi.view(this.poolBaseRaw(), info.regionLen);
  }

  portName(port: number): string {
    const b = Buffer.alloc(64);
    if (this.portNameRaw(port, b, b.length) !== 0) return '';
    return b.toString('latin1', 0, b.indexOf(0));
  }

  portIfname(port: number): string {
    const b = Buffer.alloc(32);
    if (this.portIfnameRaw(port, b, b.length) <= 0) return '';
    return b.toString('latin1', 0, b.indexOf(0));
  }

  portMac(port: number): Uint8Array {
    const m = new Uint8Array(6);
    this.portMacRaw(port, m);
    return m;
  }

  portLink(port: number): { up: boolean; speed: number } {
    const o = new Uint32Array(3);
    if (this.portLinkRaw(port, o) !== 0) return { up: false, speed: 0 };
    return { up: o[0] === 1, speed: o[1]! };
  }

  portStats(port: number): PortStats | undefined {
    const o = new BigUint64Array(8);
    if (this.portStatsRaw(port, o) !== 0) return undefined;
    return {
      ipackets: o[0]!, opackets: o[1]!, ibytes: o[2]!, obytes: o[3]!,
      imissed: o[4]!, ierrors: o[5]!, oerrors: o[6]!, rxNombuf: o[7]!,
    };
  }
}

/**
 * The rte_mbuf fields JS touches, read and written in place in the pool view (host byte order,
 * offsets from the shim's offsetof, so no struct layout is hard-coded here). Mbufs are cache-line
 * aligned, so the 16- and 32-bit fields are aligned for the typed-array views.
 */
export class MbufFields {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly dataOff: number;
  private readonly port: number;
  private readonly olFlags: number;
  private readonly pktLen: number;
  private readonly dataLen: number;

  constructor(pool: ArrayBuffer, dpdk: Dpdk) {
    this.u16 = new Uint16Array(pool, 0, pool.byteLength >> 1);
    this.u32 = new Uint32Array(pool, 0, pool.byteLength >> 2);
    const o = new Uint32Array(6);
    dpdk.mbufLayoutRaw(o);
    this.dataOff = o[0]!;
    this.port = o[1]!;
    this.olFlags = o[2]!;
    this.pktLen = o[3]!;
    this.dataLen = o[4]!;
  }

  dataOffOf(mbuf: number): number {
    return this.u16[(mbuf + this.dataOff) >> 1]!;
  }
  dataLenOf(mbuf: number): number {
    return this.u16[(mbuf + this.dataLen) >> 1]!;
  }
  portOf(mbuf: number): number {
    return this.u16[(mbuf + this.port) >> 1]!;
  }

  /** Prepares an mbuf for tx: where the frame starts, its length, the output port; no offloads. */
  setForTx(mbuf: number, dataOff: number, len: number, port: number): void {
    const u16 = this.u16;
    const u32 = this.u32;
    u16[(mbuf + this.dataOff) >> 1] = dataOff;
    u16[(mbuf + this.dataLen) >> 1] = len;
    u16[(mbuf + this.port) >> 1] = port;
    u32[(mbuf + this.pktLen) >> 2] = len;
    u32[(mbuf + this.olFlags) >> 2] = 0;
    u32[(mbuf + this.olFlags + 4) >> 2] = 0;
  }
}

let loaded: Dpdk | undefined;

/** Loads the shim once per thread. */
export function loadShim(path: string = shimPath()): Dpdk {
  loaded ??= new Dpdk(path);
  return loaded;
}
