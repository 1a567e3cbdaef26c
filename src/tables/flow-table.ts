/**
 * The connection-tracking table, shared by every worker: flows found by any worker from either
 * direction, so a reply that RSS puts on another worker's queue finds the flow its request made.
 *
 * LAYOUT (one SharedArrayBuffer). A header of counters, the flow records (RECORD words, three cache
 * lines: the original key with what its packets read and write in the first, the reply key with
 * the same in the second, the rest in the third: R_* below), and the index: buckets of BUCKET_WAYS entries, an entry is
 * (flow << 1 | direction) + 1 (0 = free), with the entries' hash tags in the same 64-byte line (a
 * probe touches one line and one page: without huge pages TLB misses cost as much as cache misses). A key (VNI, protocol and family, ports, source, destination)
 * may sit in either of two buckets (two hash functions from one 32-bit hash); there is no
 * displacement, so a delete simply frees its entry and no tombstones build up. At the sizes chosen
 * (entries = 4 x flows, i.e. load <= 0.5 with both directions indexed) an insert finds both
 * buckets full with negligible probability; if it does, the flow is refused like a full table.
 *
 * CONCURRENCY. Any worker may insert (it owns what it inserts) and look up; only the owner deletes.
 * - Records are handed out in chunks from a shared cursor (one Atomics.add per CHUNK flows), freed
 *   records go to the owner's own free list after a grace period (Qsbr): a record another worker
 *   found stays unchanged until that worker passed its next quiescent point (between bursts).
 * - Insert writes the record, then the tag, then publishes the entry with compareExchange on a
 *   free entry. Readers load the entry, then check the tag and the key with plain loads: the
 *   record's words are reached through the index just loaded (an address dependency), the argument
 *   lpm.ts makes in full. Two workers inserting the same new key at the same moment (both missed)
 *   may both succeed; lookups then always find the same one of the two, the other ages out unused.
 * - Per-packet fields (last seen, TCP state, the cached decision) are plain stores by whichever
 *   worker handles the packet; a lost update of a racing pair is re-done by the next packet.
 *
 * Keys live in the record: [vni, sport << 16 | dport, proto | v6 << 8 | mark << 16, src0..3, dst0..3]
 * per direction (the mark: KEY_MARK_SHIFT); IPv4 addresses use word 0 only (the rest stay zero).
 */
import { fmix32 } from './lpm-core.js';

/** Words of a key. */
export const KEY_WORDS = 11;
/**
 * A key's K_PROTO word is protocol | v6 << 8 | mark << KEY_MARK_SHIFT. The mark is upstream's VNF
 * type in its flow keys, as far as it tells flows apart: KEY_MARK_NAT on what arrives tunnelled to
 * a NAT address and on the reply keys of network NAT and NAT64 flows (whose replies arrive so).
 * Without it, the reply key of a VM's NAT flow and that of a connection a load balancer delivered
 * to another VM of the host (the same addresses and ports when the first VM's NAT talks to the
 * load balancer) were one key, and the answers went to the wrong flow.
 */
export const KEY_MARK_SHIFT = 16;
export const KEY_MARK_NAT = 3 << KEY_MARK_SHIFT;
export const K_VNI = 0;
export const K_PORTS = 1;
export const K_PROTO = 2;
export const K_SRC = 3;
export const K_DST = 7;

/**
 * Ticks per second of the flow clock (R_SEEN, Forwarding.clock): tenths of a second, so that a
 * flow ages within a tenth of a second of its timeout however short (--flow-timeout=1); a record
 * is still written at most this often per second for its time.
 */
export const FLOW_CLOCK_HZ = 10;

/**
 * Record words. Line 0 is direction 0's, line 1 direction 1's: the key, its hash, and what every
 * packet of that direction reads and writes (the cached decision, the last-seen time, the owner),
 * so that a packet of a flow without NAT touches one line of its record: the one its lookup
 * compares anyway (bench/overlay at 100,000 flows, where each record line is a cache miss: see
 * bench/RESULTS.md). Line 2 holds what the first packet, TCP, NAT, flushes and the owner use.
 */
export const R_KEY = 0;       // +dir*KEY_STRIDE
/**
 * +dir*KEY_STRIDE: hash of the key, on the key's line; unpublish overwrites it (a record whose
 * R_HASH is not its key's hash is not in the index), so that a worker's flow cache (FastPath)
 * can tell a live flow from a removed one by the record alone, on the line it compares anyway.
 */
export const R_HASH = 11;
export const R_GEN = 12;      // +dir*KEY_STRIDE: configuration generation the cached decision was made in (0: none)
export const R_ACT = 13;      // +dir*KEY_STRIDE: action kind << 16 | out port, and the ACT_* bits
/**
 * +dir*KEY_STRIDE: the last packet that way, in ticks of FLOW_CLOCK_HZ since the table's epoch;
 * the flow's is the later of the two (flowSeen).
 */
export const R_SEEN = 14;
/**
 * +dir*KEY_STRIDE: bits 0-7 (OWNER_MASK, the same both ways) the worker that inserted the flow
 * (deletes it); bits 8-31 (UL_REF_SHIFT) where an encapsulating decision's outer destination is
 * also found: 0 only in R_UL (line 2), else a route record holding it as its nexthop (ulRef), so
 * that the fast path reads it from the route table's few hot lines instead of a third line per
 * flow. Valid with the decision: a deleted route's record is reused only after the generation
 * that could cache it has passed (RouteSync.startGrace).
 */
export const R_OWNER = 15;
export const OWNER_MASK = 0xff;
export const UL_REF_SHIFT = 8;
/** Route records a reference can name: r << 1 | table (0 IPv4, 1 IPv6) fits the 24 bits. */
export const UL_REF_MAX_RECORD = (1 << 23) - 1;

/** The reference to route record r (>= 1) of the IPv4 (v6 false) or IPv6 table; 0 if r is too big. */
export function ulRef(r: number, v6: boolean): number {
  return r > UL_REF_MAX_RECORD ? 0 : (r << 1) | (v6 ? 1 : 0);
}
export const KEY_STRIDE = 16;
/** Line 2. */
export const R_STATE = 32;    // TCP state
export const R_FLAGS = 33;    // FLOW_* flags (set with Atomics.or: several workers may set them)
export const R_OWNPOS = 34;   // position in the owner's list of flows (owner-private)
export const R_PORT = 35;     // the VM port the flow belongs to (flushes), -1 none
export const R_NATPORT = 36;  // with FLOW_NAT_PORT: the VM port whose NAT port count the flow holds one of; FLOW_VIRTSVC: the service
export const R_UL = 40;       // +dir*4: encap: outer destination (4 words)
export const RECORD = 48;

/** The flow's last packet, either way (R_SEEN). */
export function flowSeen(rec: Int32Array, f: number): number {
  const base = f * RECORD + R_SEEN;
  return Math.max(rec[base]!, rec[base + KEY_STRIDE]!);
}

/** Actions a flow direction may cache (R_ACT bits 16-23; the low half is the out port). */
export const ACT_TO_VF = 1;     // rewrite Ethernet toward the out port's VM
export const ACT_ENCAP = 2;     // IP-in-IPv6 toward R_UL, out of the PF in the low half
/**
 * R_ACT bits 24-25, the side of the key the decision was made for (see actSide in conntrack). A key
 * can arrive from a VM or, tunnelled, from an uplink: to an interface's own address (or an alias
 * prefix), which the graph delivers without NAT, or to a VIP or NAT address, which it walks through
 * dnat and snat. A decision is only used for (and only replaced by) packets of its side, and for a
 * tunnel to an interface, of that interface (actMatches).
 */
export const ACT_FROM_PF = 1 << 24;
/** With ACT_FROM_PF: the tunnel was addressed to a VIP or NAT VNF. */
export const ACT_VIA_NAT = 1 << 25;
export const ACT_SIDE = ACT_FROM_PF | ACT_VIA_NAT;
/**
 * R_ACT bit 26: the flow had VIP or network NAT (FLOW_SRC_NAT or FLOW_DST_NAT) when the decision
 * was made, so a packet that repeats it is translated; after the first packet (FLOW_DECIDED) NAT
 * decisions are final. On the decision's line, so that a flow without NAT never reads R_FLAGS.
 */
export const ACT_NAT = 1 << 26;
export const ACT_KIND_SHIFT = 16;
export const ACT_KIND_MASK = 0xff;

/** TCP states (R_STATE low byte), as upstream names them. */
export const TcpState = { NONE: 0, NEW_SYN: 1, NEW_SYNACK: 2, ESTABLISHED: 3, FINWAIT: 4, RST_FIN: 5 } as const;
/** Flow flags (R_FLAGS). */
export const FLOW_SRC_NAT = 0x1;
export const FLOW_DST_NAT = 0x2;
/** The first packet went all the way through the graph (upstream DP_FLOW_FLAG_DEFAULT): NAT decisions are final. */
export const FLOW_DECIDED = 0x4;
/**
 * Set on the lower-numbered of two records that two workers created for one connection at the
 * same time (its first packets from both sides, on different workers): whoever sets it first
 * gives its own record up (see conntrack), so exactly one of the two stays.
 */
export const FLOW_DUP_SETTLED = 0x8;
/**
 * With FLOW_SRC_NAT: network NAT, the source port (ICMP echo: the identifier) is translated too, to
 * the reply key's destination port; the flow holds one NAT port of R_NATPORT's interface.
 */
export const FLOW_NAT_PORT = 0x10;
/**
 * NAT64: the original key is the VM's IPv6, the reply key the IPv4 answer's (to the NAT address
 * and port, with FLOW_NAT_PORT). Every packet is translated (snat out, dnat back); such a flow
 * caches no decision.
 */
export const FLOW_NAT64 = 0x20;
/**
 * Balanced by a load balancer (its first packet came tunnelled to the load balancer's address):
 * the target's underlay address is in R_UL (direction 0's words), for every later packet that way.
 */
export const FLOW_LB = 0x40;
/**
 * A connection of a virtual service (virtsvc-table.ts): the reply key is the IPv6 answer's, its
 * destination port the connection's port; R_NATPORT holds the service's index. Every packet is
 * translated by the virtsvc node; such a flow caches no decision.
 */
export const FLOW_VIRTSVC = 0x80;

/**
 * Sets NAT flags (FLOW_SRC_NAT, FLOW_DST_NAT and their companions) on flow f. Decisions record
 * whether their flow has NAT (ACT_NAT); should another worker have decided the flow meanwhile
 * (FLOW_DECIDED, a race of first packets), its decisions are withdrawn (generation 0), so that the
 * next packet each way decides again, with the NAT.
 */
export function setNatFlags(rec: Int32Array, f: number, flags: number): void {
  const base = f * RECORD;
  if ((Atomics.or(rec, base + R_FLAGS, flags) & FLOW_DECIDED) === 0) return;
  Atomics.store(rec, base + R_GEN, 0);
  Atomics.store(rec, base + R_GEN + KEY_STRIDE, 0);
}

const H_CURSOR = 0;   // next never-used record
const H_CAPACITY = 1;
const H_GEN = 2;      // configuration generation (supervisor bumps it)
const H_LIVE = 3;     // live flows (approximate: Atomics.add by inserting/deleting workers)
const H_BUCKETS = 4;
const H_DUPS = 5;     // keys published while the index held the same key under another record (see dupEpoch)
const HEADER = 16;

export const BUCKET_WAYS = 8;
/** Index words per bucket: BUCKET_WAYS tags, then BUCKET_WAYS entries (one 64-byte line). */
export const BUCKET_WORDS = 16;
/**
 * Entries: 0 free, (flow << 1 | dir) + 1 a published flow, ENTRY_CLAIMED taken by a thread that
 * is writing its tag (readers skip it like a free one, publishers like a used one).
 */
const ENTRY_CLAIMED = -1;
/** Records a worker takes from the shared cursor at a time. */
export const CHUNK = 64;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Hash of a flow key in k[off..off+KEY_WORDS] (IPv4 keys hash their used words only): one multiply
 * per word with xor-shifts between them and a final shift, 4 multiplies for IPv4 (this runs for
 * every packet; murmur3's finalizer per word cost twice as much for no measurable gain in spread).
 * Functions, not static methods: a static method's call loads the class from its binding and the
 * method from the class, with their checks, on every call.
 */
export function flowHash(k: Int32Array, off: number): number {
  let h = mixHead(k[off + K_VNI]!, k[off + K_PORTS]!, k[off + K_PROTO]!, k[off + K_SRC]!, k[off + K_DST]!);
  if ((k[off + K_PROTO]! & 0x100) !== 0) {
    for (let i = 1; i < 4; i++) {
      h = Math.imul(h ^ (h >>> 15) ^ k[off + K_SRC + i]!, 0x9e3779b1);
      h = Math.imul(h ^ (h >>> 13) ^ k[off + K_DST + i]!, 0x85ebca6b);
    }
  }
  return h ^ (h >>> 16);
}

/** flowHash of an IPv4 key given as words (the fast path hashes header words directly). */
export function flowHashV4(vni: number, ports: number, proto: number, src: number, dst: number): number {
  const h = mixHead(vni, ports, proto, src, dst);
  return h ^ (h >>> 16);
}

/**
 * The mixing of the words every key has (the first address words): the words multiplied side by
 * side, then one more multiply; two multiplies deep instead of four in a chain, for a hash on
 * every packet of the fast path.
 */
function mixHead(vni: number, ports: number, proto: number, src: number, dst: number): number {
  const h = Math.imul(src ^ vni, 0x9e3779b1) ^ Math.imul(dst, 0x85ebca6b) ^ Math.imul(ports, 0xc2b2ae35) ^ Math.imul(proto, 0x27d4eb2f);
  const m = Math.imul(h ^ (h >>> 16), 0x165667b1);
  return m ^ (m >>> 13);
}

/**
 * Whether flow f belongs to the interface on `port` (IPv4 `ip`, VNI `vni`, VIP `vip`, 0: none; NAT
 * address `natIp` with ports `natRange` = max << 16 | min, 0: none), as the flushes of an
 * interface's flows see it: the flows it started or was tunnelled (R_PORT), those DNATed to it (to
 * its VIP: the reply key's source is its address in its VNI), those SNATed with its VIP (the reply
 * key's destination is the VIP) and those SNATed with its NAT or NAT64 (the reply key's destination is the
 * NAT address, its destination port in the range), whichever port created them (a flow another
 * port created with the interface's address as source gets the VIP or NAT when the interface sends
 * on it; upstream flushes by the creating port only, which leaves such a flow translating with a
 * deleted VIP).
 */
export function flowOfPort(rec: Int32Array, f: number, port: number, ip: number, vni: number, vip: number,
  natIp = 0, natRange = 0): boolean {
  const base = f * RECORD;
  if (rec[base + R_PORT] === port) return true;
  const flags = rec[base + R_FLAGS]!;
  if ((flags & (FLOW_DST_NAT | FLOW_SRC_NAT | FLOW_NAT64)) === 0 || rec[base + R_KEY + K_VNI] !== vni) return false;
  if ((flags & FLOW_DST_NAT) !== 0 && ip !== 0 && rec[base + R_KEY + KEY_STRIDE + K_SRC] === ip) return true;
  if ((flags & (FLOW_SRC_NAT | FLOW_NAT64)) === 0) return false;
  const replyDst = rec[base + R_KEY + KEY_STRIDE + K_DST];
  if (vip !== 0 && replyDst === vip) return true;
  if (natIp === 0 || replyDst !== natIp) return false;
  const natPort = rec[base + R_KEY + KEY_STRIDE + K_PORTS]! & 0xffff;
  return natPort >= (natRange & 0xffff) && natPort < natRange >>> 16;
}

/**
 * Whether the key at rec[kb..] is the IPv4 key given as words (proto without the v6 bit): an IPv4
 * key has zeros in the other address words, so these five words decide.
 */
function keyIsV4(rec: Int32Array, kb: number, vni: number, ports: number, proto: number, src: number, dst: number): boolean {
  return rec[kb + K_PORTS] === ports && rec[kb + K_SRC] === src && rec[kb + K_DST] === dst
    && rec[kb + K_VNI] === vni && rec[kb + K_PROTO] === proto;
}

export class FlowTable {
  readonly header: Int32Array;
  readonly rec: Int32Array;
  /** The index: per bucket BUCKET_WAYS tags then BUCKET_WAYS entries. */
  readonly idx: Int32Array;
  readonly capacity: number;
  readonly bucketMask: number;

  static byteSize(capacity: number): number {
    const buckets = FlowTable.bucketsFor(capacity);
    return (HEADER + capacity * RECORD + buckets * BUCKET_WORDS) * 4;
  }

  private static bucketsFor(capacity: number): number {
    return pow2AtLeast(Math.ceil((capacity * 4) / BUCKET_WAYS));
  }

  static create(capacity: number): FlowTable {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 28) throw new RangeError(`flow capacity ${capacity}`);
    const sab = new SharedArrayBuffer(FlowTable.byteSize(capacity));
    const h = new Int32Array(sab, 0, HEADER);
    h[H_CAPACITY] = capacity;
    h[H_BUCKETS] = FlowTable.bucketsFor(capacity);
    h[H_GEN] = 1;
    return new FlowTable(sab);
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER);
    this.capacity = this.header[H_CAPACITY]!;
    const buckets = this.header[H_BUCKETS]!;
    this.bucketMask = buckets - 1;
    this.rec = new Int32Array(sab, HEADER * 4, this.capacity * RECORD);
    this.idx = new Int32Array(sab, (HEADER + this.capacity * RECORD) * 4, buckets * BUCKET_WORDS);
  }

  /** The configuration generation: cached decisions made in an older one are not used. */
  get generation(): number {
    return this.header[H_GEN]!;
  }

  /** The configuration generation's word itself (the shim's encapsulation reads it, see Dpdk.encapSetup). */
  generationWord(): Int32Array {
    return this.header.subarray(H_GEN, H_GEN + 1);
  }

  /** Supervisor: invalidates every cached decision (routes, interfaces, NAT changed). */
  bumpGeneration(): void {
    let g = Atomics.add(this.header, H_GEN, 1) + 1;
    if (g === 0) g = Atomics.add(this.header, H_GEN, 1) + 1;
  }

  get live(): number {
    return Atomics.load(this.header, H_LIVE);
  }

  /** live without an atomic load (a builtin call): for the fast path's choice of loop, a hint. */
  get liveHint(): number {
    return this.header[H_LIVE]!;
  }

  /**
   * lookup() for an IPv4 key given as words (vni, ports, proto without the v6 bit, source,
   * destination): compares the record's key with the words, no key array. Same result as lookup.
   */
  lookupV4(h: number, vni: number, ports: number, proto: number, src: number, dst: number): number {
    const idx = this.idx;
    const rec = this.rec;
    let b = (h & this.bucketMask) * BUCKET_WORDS;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < BUCKET_WAYS; i++) {
        if (idx[b + i] !== h) continue;
        const e = idx[b + BUCKET_WAYS + i]!;
        if (e <= 0) continue;
        const fd = e - 1;
        if (keyIsV4(rec, (fd >>> 1) * RECORD + R_KEY + (fd & 1) * KEY_STRIDE, vni, ports, proto, src, dst)) return fd;
      }
      b = this.secondBucket(h);
    }
    return -1;
  }

  private keyEquals(flow: number, dir: number, k: Int32Array, off: number): boolean {
    const r = this.rec;
    const base = flow * RECORD + R_KEY + dir * KEY_STRIDE;
    if (r[base + K_PORTS] !== k[off + K_PORTS] || r[base + K_SRC] !== k[off + K_SRC] || r[base + K_DST] !== k[off + K_DST]
      || r[base + K_VNI] !== k[off + K_VNI] || r[base + K_PROTO] !== k[off + K_PROTO]) return false;
    if ((k[off + K_PROTO]! & 0x100) === 0) return true;
    for (let i = 1; i < 4; i++) {
      if (r[base + K_SRC + i] !== k[off + K_SRC + i] || r[base + K_DST + i] !== k[off + K_DST + i]) return false;
    }
    return true;
  }

  /**
   * Reads the first word of hash h's first bucket line and returns it: the fast path reads the
   * lines of a whole burst in a loop of its own before looking any key up, so that their cache
   * and TLB misses overlap instead of following one another.
   */
  touchBucket(h: number): number {
    return this.idx[(h & this.bucketMask) * BUCKET_WORDS]!;
  }

  /** The index word offset of hash h's second bucket (the first is (h & bucketMask) * BUCKET_WORDS). */
  private secondBucket(h: number): number {
    return (fmix32(h ^ 0x5bd1e995) & this.bucketMask) * BUCKET_WORDS;
  }

  /**
   * Finds a key in a record other than `flow`: returns flow << 1 | direction, or -1. A worker that
   * has just published a flow asks this to learn whether another worker published the same
   * connection at the same time.
   */
  lookupOther(k: Int32Array, off: number, h: number, flow: number): number {
    const idx = this.idx;
    let b = (h & this.bucketMask) * BUCKET_WORDS;
    // one atomic load orders the plain loads below after this worker's own publication (an
    // atomic store), on any CPU: of two workers that published the same connection, at least one
    // sees the other's tag. Atomic loads only for the entries whose tag matches (an atomic load
    // per way cost ~120 ns per new flow).
    if (Atomics.load(this.header, H_CAPACITY) === 0) return -1;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < BUCKET_WAYS; i++) {
        if (idx[b + i] !== h) continue;
        const e = Atomics.load(idx, b + BUCKET_WAYS + i);
        if (e > 0 && (e - 1) >>> 1 !== flow && this.keyEquals((e - 1) >>> 1, (e - 1) & 1, k, off)) return e - 1;
      }
      b = this.secondBucket(h);
    }
    return -1;
  }

  /** Finds a key: returns flow << 1 | direction, or -1. */
  lookup(k: Int32Array, off: number, h: number): number {
    const fd = this.probe((h & this.bucketMask) * BUCKET_WORDS, h, k, off);
    return fd >= 0 ? fd : this.probe(this.secondBucket(h), h, k, off);
  }

  /** The entry of bucket line `b` whose tag is h and whose key equals k[off..], or -1. */
  private probe(b: number, h: number, k: Int32Array, off: number): number {
    const idx = this.idx;
    for (let i = 0; i < BUCKET_WAYS; i++) {
      if (idx[b + i] === h) {
        const e = idx[b + BUCKET_WAYS + i]!;
        if (e > 0) {
          const fd = e - 1;
          if (this.keyEquals(fd >>> 1, fd & 1, k, off)) return fd;
        }
      }
    }
    return -1;
  }

  /**
   * Publishes flow/dir under hash h in a free entry of its first bucket while that is at most half
   * full, else of the less loaded of its two buckets (the "power of two choices" keeps buckets even
   * as the index fills, so it fills to its capacity); false if both are full. Below half full a
   * key's lookup reads one bucket line: with the less loaded bucket always, at 100,000 flows 14% of
   * the fast path's lookups went on to the second bucket's line, a cache miss each.
   */
  publish(flow: number, dir: number, h: number): boolean {
    const v = ((flow << 1) | dir) + 1;
    const b1 = (h & this.bucketMask) * BUCKET_WORDS + BUCKET_WAYS;
    const b2 = this.secondBucket(h) + BUCKET_WAYS;
    const idx = this.idx;
    if (this.heldElsewhere(b1, flow, dir, h) || this.heldElsewhere(b2, flow, dir, h)) Atomics.add(this.header, H_DUPS, 1);
    for (let attempt = 0; attempt < 4; attempt++) {
      let free1 = 0;
      let free2 = 0;
      for (let i = 0; i < BUCKET_WAYS; i++) {
        if (idx[b1 + i] === 0) free1++;
        if (idx[b2 + i] === 0) free2++;
      }
      if (free1 === 0 && free2 === 0) return false;
      const b = free1 >= BUCKET_WAYS / 2 || free1 >= free2 ? b1 : b2;
      for (let i = 0; i < BUCKET_WAYS; i++) {
        if (idx[b + i] !== 0) continue;
        // claim the entry, then write its tag, then the flow: only the thread that claimed an
        // entry writes its tag (writing the tag before claiming let a thread that lost the race
        // overwrite the winner's tag, and the winner's flow was never found again); a reader
        // that sees the flow sees its tag, or an older one, which only makes it miss a flow
        // being published
        if (Atomics.compareExchange(idx, b + i, 0, ENTRY_CLAIMED) !== 0) continue;
        idx[b - BUCKET_WAYS + i] = h;
        Atomics.store(idx, b + i, v);
        return true;
      }
      // another worker took the free entries meanwhile: look again
    }
    return false;
  }

  /**
   * Whether the bucket whose entries start at idx[e] holds the key of flow/dir (its record's) under
   * another record: NAT and load balancing can make one flow's reply key another's key, and a
   * lookup then finds whichever comes first in the buckets.
   */
  private heldElsewhere(e: number, flow: number, dir: number, h: number): boolean {
    const idx = this.idx;
    const r = this.rec;
    const kb = flow * RECORD + R_KEY + dir * KEY_STRIDE;
    for (let i = 0; i < BUCKET_WAYS; i++) {
      if (idx[e - BUCKET_WAYS + i] !== h) continue;
      const fd = idx[e + i]! - 1;
      if (fd < 0 || fd === ((flow << 1) | dir)) continue;
      if (this.keyEquals(fd >>> 1, fd & 1, r, kb)) return true;
    }
    return false;
  }

  /**
   * Counts keys published while the index held the same key under another record. A flow cache
   * (FastPath) that saw it change forgets what it knows: its answer for a key is the record the
   * index gave, which is the index's answer until the key is removed (then the record no longer
   * answers, see R_HASH) or published twice (then this changes). A hint read without an atomic,
   * once per burst.
   */
  get dupEpoch(): number {
    return this.header[H_DUPS]!;
  }

  /** Removes the index entry of flow/dir (by its stored hash); owner only. */
  unpublish(flow: number, dir: number): void {
    const at = flow * RECORD + R_HASH + dir * KEY_STRIDE;
    const h = this.rec[at]!;
    const v = ((flow << 1) | dir) + 1;
    const b1 = (h & this.bucketMask) * BUCKET_WORDS + BUCKET_WAYS;
    const b2 = this.secondBucket(h) + BUCKET_WAYS;
    // then no flow cache takes the record for its key any more (see R_HASH)
    this.rec[at] = ~h;
    for (let i = 0; i < BUCKET_WAYS; i++) {
      if (this.idx[b1 + i] === v) { Atomics.store(this.idx, b1 + i, 0); return; }
    }
    for (let i = 0; i < BUCKET_WAYS; i++) {
      if (this.idx[b2 + i] === v) { Atomics.store(this.idx, b2 + i, 0); return; }
    }
  }

  /**
   * Whether flow/dir fd is in the index under hash h with the IPv4 key given as words (lookupV4's
   * words): a flow cache's check of the flow it remembered for a key. R_HASH is written after the
   * key (insert, rekeyReply) and overwritten when the key leaves the index (unpublish, and a
   * publication that failed): a record that answers true holds this key and is in the index or
   * about to be. One about to be has R_GEN 0 (written before R_HASH), so no decision of it is used.
   */
  holdsV4(fd: number, h: number, vni: number, ports: number, proto: number, src: number, dst: number): boolean {
    const kb = (fd >>> 1) * RECORD + R_KEY + (fd & 1) * KEY_STRIDE;
    return this.rec[kb + (R_HASH - R_KEY)] === h && keyIsV4(this.rec, kb, vni, ports, proto, src, dst);
  }

  /** Takes CHUNK never-used records: returns the first, or -1 when none are left. */
  takeChunk(): number {
    if (Atomics.load(this.header, H_CURSOR) >= this.capacity) return -1;
    const first = Atomics.add(this.header, H_CURSOR, CHUNK);
    return first < this.capacity ? first : -1;
  }

  countLive(delta: number): void {
    Atomics.add(this.header, H_LIVE, delta);
  }

  /** Copies the key of flow/dir to dst[off..]. */
  copyKey(flow: number, dir: number, dst: Int32Array, off: number): void {
    const base = flow * RECORD + R_KEY + dir * KEY_STRIDE;
    for (let i = 0; i < KEY_WORDS; i++) dst[off + i] = this.rec[base + i]!;
  }
}

/** Writes the reverse of key src[so..] (addresses and ports swapped) to dst[do..]. */
export function reverseKey(src: Int32Array, so: number, dst: Int32Array, dOff: number): void {
  dst[dOff + K_VNI] = src[so + K_VNI]!;
  const p = src[so + K_PORTS]!;
  dst[dOff + K_PORTS] = ((p & 0xffff) << 16) | (p >>> 16);
  dst[dOff + K_PROTO] = src[so + K_PROTO]!;
  for (let i = 0; i < 4; i++) {
    dst[dOff + K_SRC + i] = src[so + K_DST + i]!;
    dst[dOff + K_DST + i] = src[so + K_SRC + i]!;
  }
}

/**
 * How many owned flows a worker checks for expiry at a time: enough that each of them is checked
 * about once per `periodMs`, whatever the packet rate. A fixed count per loop iteration (16, before)
 * scanned a busy worker's flows many times a second for nothing (100,000 flows at 10 Mpps: the
 * whole table ~50 times a second, a cache miss per flow) and an idle one's, waking ten times a
 * second, in minutes. Credit accrues with time and the number of flows, at most one full pass of
 * them; one call takes at most `maxPerCall`, the rest waits for the next. The budget counts the
 * flows that stay (FlowOwner.age's maxRemoved): charging removals too made the pace shrink with
 * every removal, and a batch of expired flows decayed over seconds (34 UDP flows, 2 s timeout:
 * gone after 5.6 s) instead of going in one pass (2.9 s).
 */
export class AgingPace {
  private credit = 0;
  private last: number;

  constructor(private readonly periodMs: number, private readonly maxPerCall: number, nowMs: number) {
    this.last = nowMs;
  }

  /** Flows to check now, with `owned` flows at time `nowMs`. */
  take(owned: number, nowMs: number): number {
    const dt = nowMs - this.last;
    this.last = nowMs;
    if (dt > 0) this.credit = Math.min(owned, this.credit + (owned * dt) / this.periodMs);
    const n = Math.min(this.maxPerCall, Math.floor(this.credit));
    this.credit -= n;
    return n;
  }

  /** Returns the part of the last take that was not used (FlowOwner.age stopped at maxRemoved). */
  giveBack(unused: number): void {
    if (unused > 0) this.credit += unused;
  }
}

/**
 * A worker's handle on the shared table: record allocation (chunks from the shared cursor plus
 * its own recycled records), the list of flows it owns (aging, flushes) and deferred reuse.
 * Allocates its arrays once; nothing per packet.
 */
export class FlowOwner {
  private chunkNext = 0;
  private chunkEnd = 0;
  private readonly free: Int32Array;
  private freeCount = 0;
  readonly owned: Int32Array;
  ownedCount = 0;
  /** Deleted records waiting for their grace period: [flow, token] pairs, FIFO. */
  private readonly limbo: Int32Array;
  private limboHead = 0;
  private limboCount = 0;
  private scan = 0;
  /** Checks of the last age() call that counted against its `max`. */
  agePassed = 0;
  /**
   * Starts a grace period for a record that was briefly visible (the worker sets its Qsbr's start;
   * token 0, the default, means "no other reader").
   */
  startGrace: () => number = () => 0;
  /** A removed flow gave back a NAT port of VM port `port` (openForwarding counts it in the NAT table). */
  natReleased: (port: number) => void = () => undefined;
  /** Called with the service index when a flow holding a virtual service's port is removed. */
  virtsvcReleased: (service: number) => void = () => undefined;

  constructor(readonly table: FlowTable, readonly worker: number) {
    this.free = new Int32Array(table.capacity);
    this.owned = new Int32Array(table.capacity);
    this.limbo = new Int32Array(table.capacity * 2);
  }

  /** A record for a new flow, or -1 when the table is full. */
  alloc(): number {
    if (this.freeCount > 0) return this.free[--this.freeCount]!;
    if (this.chunkNext >= this.chunkEnd) {
      const first = this.table.takeChunk();
      if (first < 0) return -1;
      this.chunkNext = first;
      this.chunkEnd = Math.min(first + CHUNK, this.table.capacity);
    }
    return this.chunkNext++;
  }

  /** Gives back a record that was never published. */
  release(flow: number): void {
    this.free[this.freeCount++] = flow;
  }

  /**
   * Inserts a new flow whose original key is k[off..] and reply key k[roff..] with hashes h, rh.
   * Returns the flow, -1 if the table is full, -2 if the index refused it.
   */
  insert(k: Int32Array, off: number, h: number, roff: number, rh: number, port: number, now: number): number {
    const t = this.table;
    const f = this.alloc();
    if (f < 0) return -1;
    const r = t.rec;
    const base = f * RECORD;
    r[base + R_STATE] = 0;
    r[base + R_PORT] = port;
    r[base + R_NATPORT] = -1;
    r[base + R_FLAGS] = 0;
    for (let d = 0; d < 2 * KEY_STRIDE; d += KEY_STRIDE) {
      r[base + R_SEEN + d] = now;
      r[base + R_OWNER + d] = this.worker;
      r[base + R_GEN + d] = 0;
      r[base + R_ACT + d] = 0;
    }
    for (let i = 0; i < KEY_WORDS; i++) {
      r[base + R_KEY + i] = k[off + i]!;
      r[base + R_KEY + KEY_STRIDE + i] = k[roff + i]!;
    }
    // after the key and the reset decisions: see holdsV4
    r[base + R_HASH] = h;
    r[base + R_HASH + KEY_STRIDE] = rh;
    if (!t.publish(f, 0, h)) {
      // not in the index: no hash of its keys either (see holdsV4)
      r[base + R_HASH] = ~h;
      r[base + R_HASH + KEY_STRIDE] = ~rh;
      this.release(f);
      return -2;
    }
    if (!t.publish(f, 1, rh)) {
      // both directions are indexed or neither: a flow whose replies cannot be found is refused;
      // another worker may have found it meanwhile, so it is reused only after a grace period
      r[base + R_HASH + KEY_STRIDE] = ~rh;
      t.unpublish(f, 0);
      this.retire(f, this.startGrace());
      return -2;
    }
    r[base + R_OWNPOS] = this.ownedCount;
    this.owned[this.ownedCount++] = f;
    t.countLive(1);
    return f;
  }

  /**
   * Replaces the reply key of an owned-or-not flow after NAT changed it (k[off..], hash h). Any
   * worker may do this on the flow's first packet; the old entry is removed first.
   */
  rekeyReply(flow: number, k: Int32Array, off: number, h: number): boolean {
    const t = this.table;
    t.unpublish(flow, 1);
    const base = flow * RECORD;
    for (let i = 0; i < KEY_WORDS; i++) t.rec[base + R_KEY + KEY_STRIDE + i] = k[off + i]!;
    t.rec[base + R_HASH + KEY_STRIDE] = h;
    return t.publish(flow, 1, h);
  }

  /** Deletes an owned flow: unlinks both keys now, reuses the record after a grace period. */
  remove(flow: number, token: number): void {
    const t = this.table;
    t.unpublish(flow, 0);
    t.unpublish(flow, 1);
    const base = flow * RECORD;
    const flags = t.rec[base + R_FLAGS]!;
    if ((flags & FLOW_NAT_PORT) !== 0) this.natReleased(t.rec[base + R_NATPORT]!);
    else if ((flags & FLOW_VIRTSVC) !== 0) this.virtsvcReleased(t.rec[base + R_NATPORT]!);
    const pos = t.rec[flow * RECORD + R_OWNPOS]!;
    const last = this.owned[--this.ownedCount]!;
    this.owned[pos] = last;
    t.rec[last * RECORD + R_OWNPOS] = pos;
    this.retire(flow, token);
    t.countLive(-1);
  }

  /** Queues a record for reuse once the grace period `token` ended. */
  private retire(flow: number, token: number): void {
    const at = ((this.limboHead + this.limboCount) % this.free.length) * 2;
    this.limbo[at] = flow;
    this.limbo[at + 1] = token;
    this.limboCount++;
  }

  /** Moves records whose grace period ended to the free list. */
  reclaim(check: (token: number) => boolean): void {
    while (this.limboCount > 0) {
      const at = this.limboHead * 2;
      if (!check(this.limbo[at + 1]!)) return;
      this.free[this.freeCount++] = this.limbo[at]!;
      this.limboHead = (this.limboHead + 1) % this.free.length;
      this.limboCount--;
    }
  }

  /**
   * Checks up to `max` owned flows for expiry, from where the last call stopped, and removes the
   * expired ones (the grace token taken once, for the first). With `maxRemoved` > 0 a removal does
   * not count against `max`, and at most `maxRemoved` flows go in one call. Returns the removals.
   */
  age(max: number, expired: (flow: number) => boolean, token: () => number, maxRemoved = 0): number {
    let removed = 0;
    let tok = 0;
    let n = 0;
    for (; n < max && this.ownedCount > 0;) {
      if (this.scan >= this.ownedCount) this.scan = 0;
      const f = this.owned[this.scan]!;
      if (expired(f)) {
        if (tok === 0) tok = token();
        this.remove(f, tok);
        removed++;
        if (maxRemoved === 0) n++;
        else if (removed >= maxRemoved) break;
      } else {
        this.scan++;
        n++;
      }
    }
    this.agePassed = n;
    return removed;
  }

  /** Removes every owned flow for which `match(flow)` holds (flushes). */
  removeWhere(match: (flow: number) => boolean, token: number): number {
    let removed = 0;
    for (let i = 0; i < this.ownedCount;) {
      const f = this.owned[i]!;
      if (match(f)) {
        this.remove(f, token);
        removed++;
      } else {
        i++;
      }
    }
    return removed;
  }
}
