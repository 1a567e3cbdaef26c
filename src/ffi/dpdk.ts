/**
 * The one koffi binding of native/dpshim.c. Loaded by the supervisor and by every worker thread;
 * every function is declared once here at load time. The hot one, io, takes integers only: the
 * packets it sends, frees and receives are described in the calling thread's IoArea, one FFI
 * crossing per burst, never per packet; alloc/free take preallocated arrays of mbuf offsets.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// koffi ships CommonJS with a prebuilt binary; require keeps its native loading path simple.
const koffi = require('koffi') as typeof import('koffi');

/**
 * Where EAL keeps each primary process's runtime files, in a directory named by --file-prefix (as
 * root). dps_eal_cleanup removes the service's own; a process that did not exit cleanly (or
 * dpdk-testpmd) leaves its directory behind.
 */
export const DPDK_RUNTIME_DIR = '/var/run/dpdk';

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

/** RTE_ETH_XSTATS_NAME_SIZE, and the most extended stats read per port. */
const XSTAT_NAME_SIZE = 64;
const XSTATS_MAX = 1024;

/** The bound shim. Create one per thread with {@link loadShim}. */
export class Dpdk {
  readonly ealInit: (argc: number, argv: string[]) => number;
  readonly ealCleanup: () => number;
  readonly strerror: (err: number) => string;
  readonly mainLcore: () => number;
  readonly lcoresRaw: (out: Int32Array, max: number) => number;
  readonly lcoreCpu: (lcore: number) => number;
  readonly poolCreate: (nb: number, cache: number, dataRoom: number) => number;
  /** poolCreate in EAL's memory, as on machines with hugepages (tests run that path without them). */
  readonly poolCreateInEal: (nb: number, cache: number, dataRoom: number) => number;
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
  private readonly portXstatsRaw: (port: number, names: Buffer, values: BigUint64Array, max: number) => number;
  private readonly socketCount: () => number;
  private readonly heapStatsRaw: (idx: number, out: BigUint64Array) => number;
  readonly threadRegister: (cpu: number) => number;
  private readonly threadUnregisterRaw: () => void;
  /** dps_io_args: io() with its arguments in the io area's args words. */
  private readonly ioArgsRaw: () => number;
  /** The calling thread's io area's argument words (set by ioArea()). */
  private ioArgs: Int32Array | undefined;
  private readonly ioAreaRaw: () => unknown;
  private readonly adviseHugeRaw: (addr: ArrayBufferView, len: number) => number;
  private readonly ioLayoutRaw: (out: Uint32Array) => number;
  private readonly encapSetupRaw: (portWords: Int32Array | null, portBytes: Uint8Array | null, fields4: Int32Array | null, fields6: Int32Array | null,
    generation: Int32Array | null, layout: Uint32Array | null) => number;
  private readonly prefetchSetupRaw: (idx: Int32Array | null, mask: number, bucketWords: number, port: Int32Array | null, nports: number) => number;
  /** The fast path's IPv4 flow hash as the shim computes it for its prefetch (flow-table flowHashV4). */
  readonly flowHashV4: (vni: number, ports: number, proto: number, src: number, dst: number) => number;
  readonly freeMbufs: (offs: Uint32Array, n: number) => number;
  private readonly idleSetupRaw: (qid: number, ports: Uint16Array, n: number, intr: Int32Array) => number;
  /**
   * Worker: sleeps until a packet arrives on one of its rx interrupt ports, dps_idle_wake, or the
   * timeout (microseconds). Returns the interrupt ports that had packets (0: timeout or woken).
   */
  readonly idleWait: (timeoutUs: number) => number;
  /** Supervisor: wakes a worker sleeping in idleWait (the fd its idleSetup returned). */
  readonly idleWake: (fd: number) => number;
  private readonly rxSignalsHereRaw: (qid: number, ports: Uint16Array, n: number) => number;
  private readonly telemetryRegisterRaw: (cmd: string, help: string) => number;
  private readonly telemetryPublishRaw: (handle: number, snapshot: string) => number;
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
    this.poolCreateInEal = lib.func('int dps_pool_create_eal(uint32_t nb, uint32_t cache, uint32_t room)');
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
    this.portXstatsRaw = lib.func('int dps_port_xstats(uint16_t port, _Out_ uint8_t *names, _Out_ uint64_t *values, int max)');
    this.socketCount = lib.func('int dps_socket_count(void)');
    this.heapStatsRaw = lib.func('int dps_heap_stats(int idx, _Out_ uint64_t *out)');
    this.threadRegister = lib.func('int dps_thread_register(int cpu)');
    this.threadUnregisterRaw = lib.func('void dps_thread_unregister(void)');
    this.ioArgsRaw = lib.func('int dps_io_args(void)');
    this.ioAreaRaw = lib.func('void *dps_io_area(void)');
    this.adviseHugeRaw = lib.func('int64_t dps_advise_huge(void *addr, uint64_t len)');
    this.ioLayoutRaw = lib.func('int dps_io_layout(_Out_ uint32_t *out)');
    this.prefetchSetupRaw = lib.func('int dps_prefetch_setup(const int32_t *idx, uint32_t mask, uint32_t bucket_words, const int32_t *port, uint32_t nports)');
    this.encapSetupRaw = lib.func('int dps_encap_setup(const int32_t *port_words, const uint8_t *port_bytes, const int32_t *fields4, const int32_t *fields6, const int32_t *generation, const uint32_t *layout)');
    this.flowHashV4 = lib.func('uint32_t dps_flow_hash_v4(uint32_t vni, uint32_t ports, uint32_t proto, uint32_t src, uint32_t dst)');
    this.idleSetupRaw = lib.func('int dps_idle_setup(uint16_t qid, const uint16_t *ports, int n, _Out_ int32_t *intr)');
    this.idleWait = lib.func('int dps_idle_wait(int timeout_us)');
    this.idleWake = lib.func('int dps_idle_wake(int fd)');
    this.rxSignalsHereRaw = lib.func('int dps_rx_signals_here(uint16_t qid, const uint16_t *ports, int n)');
    this.telemetryRegisterRaw = lib.func('int dps_telemetry_register(const char *cmd, const char *help)');
    this.telemetryPublishRaw = lib.func('int dps_telemetry_publish(int h, const char *snap)');
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

  /** The address of the mbuf region (poolView's first byte), for telling its mapping apart. */
  poolAddress(): bigint {
    return BigInt(koffi.address(this.poolBaseRaw()));
  }

  /**
   * Transparent huge pages for a shared table's memory (see dps_advise_huge): call right after
   * creating the SharedArrayBuffer, before its pages are touched. Returns the bytes advised, or a
   * negative errno (no THP support: the table works the same with 4 KiB pages).
   */
  adviseHuge(sab: SharedArrayBuffer): number {
    return Number(this.adviseHugeRaw(new Uint8Array(sab), sab.byteLength));
  }

  /**
   * Worker: prepares its idle sleep on queue `qid` of `ports` (after the ports started). Returns the
   * eventfd that wakes it and how many of the ports have rx interrupts (the others are polled
   * again when a sleep times out). Throws if the kernel gives no epoll or eventfd.
   */
  idleSetup(qid: number, ports: Uint16Array): { wakeFd: number; interruptPorts: number } {
    const intr = new Int32Array(1);
    const fd = this.idleSetupRaw(qid, ports, ports.length, intr);
    if (fd < 0) throw new Error(`idle sleep setup: ${this.strerror(fd)}`);
    return { wakeFd: fd, interruptPorts: intr[0]! };
  }

  /**
   * Worker: the rx signals of its queue `qid` on `ports` (net_tap's, see dps_rx_signals_here) go to
   * this thread instead of the process. Returns how many queues had one; throws if the kernel
   * refused.
   */
  rxSignalsHere(qid: number, ports: Uint16Array): number {
    const n = this.rxSignalsHereRaw(qid, ports, ports.length);
    if (n < 0) throw new Error(`rx signals to the worker: ${this.strerror(n)}`);
    return n;
  }

  /**
   * A command of ours on DPDK's telemetry socket (after EAL init): its handle for
   * telemetryPublish. The socket's thread answers it from the last published snapshot.
   */
  telemetryRegister(cmd: string, help: string): number {
    const h = this.telemetryRegisterRaw(cmd, help);
    if (h < 0) throw new Error(`telemetry command ${cmd}: ${this.strerror(h)}`);
    return h;
  }

  /**
   * Replaces a telemetry command's answer: one entry per line, "key\tnumber" or
   * "dictionary\tkey\tnumber" (a dictionary's lines consecutive).
   */
  telemetryPublish(handle: number, snapshot: string): void {
    const r = this.telemetryPublishRaw(handle, snapshot);
    if (r < 0) throw new Error(`telemetry snapshot: ${this.strerror(r)}`);
  }

  /** Unregisters the calling thread from DPDK; its io area goes with it. */
  threadUnregister(): void {
    this.threadUnregisterRaw();
    this.ioArgs = undefined;
  }

  /** The calling thread's io area (the shim allocates it once per thread). */
  ioArea(): IoArea {
    const o = new Uint32Array(20);
    this.ioLayoutRaw(o);
    const ptr = this.ioAreaRaw();
    if (ptr === null) throw new Error('io area: out of memory');
    const area = new IoArea(koffi.view(ptr, o[0]!), o);
    this.ioArgs = area.args;
    return area;
  }

  /**
   * Worker: has its io calls prefetch the flow index bucket of each IPv4 TCP or UDP packet received
   * on an active VM port (dps_prefetch_setup): `idx` the flow table's index, `mask` its bucket mask
   * and `bucketWords` the words of a bucket; `port` a switch word (non-zero: prefetch) and a spare,
   * then two words per port id p at 2 * p + 2, non-zero for an active VM port and its VNI, which the
   * caller keeps current. Both must be views of SharedArrayBuffers (their memory never moves). Null
   * idx turns it off.
   */
  prefetchSetup(idx: Int32Array | null, mask: number, bucketWords: number, port: Int32Array | null): void {
    for (const a of [idx, port]) {
      if (a !== null && !(a.buffer instanceof SharedArrayBuffer)) throw new TypeError('prefetchSetup: the arrays must be views of SharedArrayBuffers');
    }
    if (idx !== null && (port === null || port.length < 2)) throw new RangeError('prefetchSetup: the port words need at least the switch and its spare');
    const rc = this.prefetchSetupRaw(idx, mask, bucketWords, port, port === null ? 0 : (port.length >>> 1) - 1);
    if (rc < 0) throw new Error(`prefetch setup: ${this.strerror(rc)}`);
  }

  /**
   * Worker: lets its io calls write the outer headers of encapsulated frames (dps_encap_setup; tx
   * descriptors with txSet ENCAP4/ENCAP6 and their txEncap word, see IoArea) from the port table's
   * words and bytes and the IPv4 and IPv6 route tables' fields, each laid out as `layout` says
   * (PortTable.shimLayout, then words per route, the nexthop's word and each table's records); it
   * composes them again after the configuration generation (`generation`, the flow table's word)
   * or the port table's epoch word changes. All must be views of SharedArrayBuffers (their memory
   * never moves). Null turns it off.
   */
  encapSetup(t: EncapTables | null): void {
    if (t !== null) {
      for (const a of [t.portWords, t.portBytes, t.fields4, t.fields6, t.generation]) {
        if (!(a.buffer instanceof SharedArrayBuffer)) throw new TypeError('encapSetup: the tables must be views of SharedArrayBuffers');
      }
    }
    const rc = t === null ? this.encapSetupRaw(null, null, null, null, null, null)
      : this.encapSetupRaw(t.portWords, t.portBytes, t.fields4, t.fields6, t.generation, Uint32Array.from(t.layout));
    if (rc < 0) throw new Error(`encap setup: ${this.strerror(rc)}`);
  }

  /**
   * The one crossing per worker iteration (dps_io): transmits the io area's ntx tx descriptors,
   * frees its nfree free descriptors, then polls queue qid of the first npoll ports of pollPort,
   * up to perPort packets each and max in total, into its rx descriptors; see IoArea. Returns the
   * rx count. The arguments go through the io area (dps_io_args): koffi converts each argument of a call,
   * ~7 ns apiece here.
   */
  io(qid: number, ntx: number, nfree: number, npoll: number, perPort: number, max: number): number {
    const a = this.ioArgs ?? this.ioArea().args;
    a[0] = qid;
    a[1] = ntx;
    a[2] = nfree;
    a[3] = npoll;
    a[4] = perPort;
    a[5] = max;
    return this.ioArgsRaw();
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

  /** The port's extended stats by name, as DPDK's /ethdev/xstats lists them (empty if none). */
  portXstats(port: number): Map<string, number> {
    const out = new Map<string, number>();
    // how many the port has (max 0), then room for them (a few more in case some appear)
    const max = Math.min(XSTATS_MAX, this.portXstatsRaw(port, Buffer.alloc(0), new BigUint64Array(0), 0) + 8);
    if (max <= 8) return out;
    const names = Buffer.alloc(max * XSTAT_NAME_SIZE);
    const values = new BigUint64Array(max);
    const n = this.portXstatsRaw(port, names, values, max);
    for (let i = 0; i < n; i++) {
      const at = i * XSTAT_NAME_SIZE;
      const end = names.indexOf(0, at);
      out.set(names.toString('latin1', at, end < 0 || end > at + XSTAT_NAME_SIZE ? at + XSTAT_NAME_SIZE : end), Number(values[i]));
    }
    return out;
  }

  /**
   * The malloc heap of every socket, with the numbers and keys of DPDK's /eal/heap_info: Heap_id,
   * Heap_size, Free_size, Alloc_size, Greatest_free_size, Alloc_count, Free_count.
   */
  heapStats(): Array<Record<string, number>> {
    const out: Array<Record<string, number>> = [];
    const o = new BigUint64Array(6);
    for (let i = 0; i < this.socketCount(); i++) {
      if (this.heapStatsRaw(i, o) !== 0) continue;
      out.push({
        Heap_id: i, Heap_size: Number(o[0]), Free_size: Number(o[1]), Alloc_size: Number(o[2]),
        Greatest_free_size: Number(o[3]), Alloc_count: Number(o[4]), Free_count: Number(o[5]),
      });
    }
    return out;
  }
}

/** What the shim's encapsulation reads (Dpdk.encapSetup; the worker's are from encapTables in fast-path.ts). */
export interface EncapTables {
  portWords: Int32Array;
  portBytes: Uint8Array;
  fields4: Int32Array;
  fields6: Int32Array;
  generation: Int32Array;
  layout: readonly number[];
}

/** IoArea.txSet values. */
export const TX_MOVED = 1;
export const TX_ENCAP4 = 2;
export const TX_ENCAP6 = 3;

/**
 * One worker thread's descriptors for Dpdk.io, in shim memory: what rx found (mbuf offset, frame
 * start, length, input port per packet) and what to transmit (the same four plus `txSet`, non-zero
 * when the frame moved or changed length so the shim must rewrite the mbuf's data_off/len) and to
 * free. Offsets and starts count from the pool base, as PacketBatch's do.
 */
export class IoArea {
  readonly rxOff: Uint32Array;
  readonly rxStart: Uint32Array;
  readonly rxLen: Uint16Array;
  readonly rxPort: Uint16Array;
  readonly txOff: Uint32Array;
  readonly txStart: Uint32Array;
  readonly txLen: Uint16Array;
  readonly txPort: Uint16Array;
  /**
   * Per tx descriptor: 0 the frame is as it was received; TX_MOVED it moved or changed length;
   * TX_ENCAP4 / TX_ENCAP6 that, and the shim writes its Ethernet and IPv6 headers (an IPv4 or IPv6
   * packet inside) from txEncap (see Dpdk.encapSetup).
   */
  readonly txSet: Uint8Array;
  /** With TX_ENCAP4/6: the route reference (ulRef) << 8 | the port the packet came from. */
  readonly txEncap: Uint32Array;
  readonly freeOff: Uint32Array;
  readonly pollPort: Uint16Array;
  /** [0] sent by the last io call, [1] not sent (freed). */
  readonly result: Uint32Array;
  /** Dpdk.io's arguments for the shim (qid, ntx, nfree, npoll, perPort, max). */
  readonly args: Int32Array;
  /** Most descriptors per direction, and most ports polled. */
  readonly max: number;
  readonly maxPoll: number;

  /**
   * An io area in an ordinary buffer with the shim's array order, for unit tests and benchmarks
   * that run the packet path without DPDK (allocates).
   */
  static plain(max: number, maxPoll = 256): IoArea {
    const layout = new Uint32Array(20);
    const sizes = [0, 4, 4, 2, 2, 4, 4, 2, 2, 1, 4, 2, 4];
    let off = 0;
    for (let i = 1; i <= 12; i++) {
      off = Math.ceil(off / 8) * 8;
      layout[i] = off;
      off += sizes[i]! * (i === 11 ? maxPoll : i === 12 ? 4 : max);
    }
    layout[15] = off;
    off += 4 * 8;
    layout[16] = off;
    off += 4 * max;
    layout[0] = off;
    layout[13] = max;
    layout[14] = maxPoll;
    return new IoArea(new ArrayBuffer(off), layout);
  }

  constructor(area: ArrayBuffer, layout: Uint32Array) {
    const n = layout[13]!;
    this.max = n;
    this.maxPoll = layout[14]!;
    this.rxOff = new Uint32Array(area, layout[1]!, n);
    this.rxStart = new Uint32Array(area, layout[2]!, n);
    this.rxLen = new Uint16Array(area, layout[3]!, n);
    this.rxPort = new Uint16Array(area, layout[4]!, n);
    this.txOff = new Uint32Array(area, layout[5]!, n);
    this.txStart = new Uint32Array(area, layout[6]!, n);
    this.txLen = new Uint16Array(area, layout[7]!, n);
    this.txPort = new Uint16Array(area, layout[8]!, n);
    this.txSet = new Uint8Array(area, layout[9]!, n);
    this.freeOff = new Uint32Array(area, layout[10]!, n);
    this.pollPort = new Uint16Array(area, layout[11]!, this.maxPoll);
    this.result = new Uint32Array(area, layout[12]!, 4);
    this.args = new Int32Array(area, layout[15]!, 8);
    this.txEncap = new Uint32Array(area, layout[16]!, n);
  }
}

let loaded: Dpdk | undefined;

/** Loads the shim once per thread. */
export function loadShim(path: string = shimPath()): Dpdk {
  loaded ??= new Dpdk(path);
  return loaded;
}
