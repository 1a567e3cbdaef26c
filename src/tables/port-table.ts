/**
 * Per-port state shared by the supervisor (writer of configuration) and the workers (readers; they
 * also write the learned VM MAC). Lives in one SharedArrayBuffer: an Int32Array of fixed words per
 * port and a byte area per port for addresses and strings.
 *
 * Consistency: configuration is written under a per-port sequence lock (odd while writing). Hot
 * readers read single words (state, vni, ipv4), which cannot tear; readers of several fields (DHCP
 * building a reply) use `readStable` to retry while a write is in progress. The VM MAC has its own
 * sequence word because workers write it when they learn it (ARP, DHCP, ND), possibly two at once:
 * they take it with compareExchange, so writers never interleave.
 */

export const MAX_PORTS = 256;

/** Port roles (W_STATE). */
export const PortState = {
  UNUSED: 0,
  PF: 1,          // uplink port, always active
  VF_IDLE: 2,     // VM port without an interface
  VF_ACTIVE: 3,   // VM port with an interface (CreateInterface)
} as const;

// Int32 words per port
const W_SEQ = 0;
const W_STATE = 1;
const W_VNI = 2;
const W_IPV4 = 3;
const W_FLAGS = 4;
const W_MAC_SEQ = 5;
const W_MAC_HI = 6;
const W_MAC_LO = 7;
const W_GEN = 8;          // bumps on every attach (interface generation)
const W_OWN_HI = 9;       // the port's own MAC as words (for 2 DataView stores per packet)
const W_OWN_LO = 10;
const W_VIP = 11;         // the interface's VIP (IPv4), valid with PORT_HAS_VIP
const W_NAT_IP = 12;      // the interface's NAT address (IPv4); kept after PORT_HAS_NAT is cleared until the flush
const W_NAT_RANGE = 13;   // its port range [min, max) as max << 16 | min
const WORDS = 16;
/** Table-wide words live after the last port. */
const LIMIT_WORD = MAX_PORTS * WORDS;
/**
 * Table-wide: bumped after every configuration write and every learned MAC, so that what is
 * composed from ports' addresses and MACs (the shim's encapsulation headers, dps_encap_setup) is
 * composed again.
 */
const EPOCH_WORD = LIMIT_WORD + 2;

/** Flags (W_FLAGS). */
export const PORT_HAS_IPV6 = 1;
export const PORT_MAC_LEARNED = 2;   // a VM MAC was learned since the interface was attached
export const PORT_HAS_IPV4 = 4;
export const PORT_ARP_DONE = 8;      // the VM's first ARP since attach was seen (upstream arp_done)
export const PORT_HAS_VIP = 16;
export const PORT_HAS_NAT = 32;

// byte area per port
export const B_IPV6 = 0;       // 16: VM IPv6
export const B_UNDERLAY = 16;  // 16: interface underlay IPv6
export const B_OWN_MAC = 32;   // 6: the port's own MAC
export const B_HOSTNAME = 40;  // 1 length + 63
export const B_PXE_SERVER = 104;  // 1 length + 63
export const B_BOOT_FILE = 168;   // 1 length + 63
export const B_VIP_UNDERLAY = 232; // 16: underlay address of the interface's VIP
const BYTES = 256;

export const STR_MAX = 63;

export interface InterfaceConfig {
  vni: number;
  /** IPv4 as an unsigned 32-bit number, 0 = none */
  ipv4: number;
  /** 16 bytes, all zero = none */
  ipv6: Uint8Array;
  underlay: Uint8Array;
  hostname: string;
  pxeServer: string;
  bootFile: string;
}

export class PortTable {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  /** `bytes` for 16/32-bit big-endian access (addresses copied a word at a time). */
  readonly dv: DataView;

  /**
   * Where the shim's encapsulation (dps_encap_setup) finds a port's fields in `words` and `bytes`:
   * ports, words and bytes per port, the first word of the peer MAC (the router's on an uplink;
   * the second follows) and of the port's own MAC, the byte of the underlay address, the word
   * bumped after every change of them.
   */
  static readonly shimLayout: readonly number[] = [MAX_PORTS, WORDS, BYTES, W_MAC_HI, W_OWN_HI, B_UNDERLAY, EPOCH_WORD];

  static byteSize(): number {
    return MAX_PORTS * (WORDS * 4 + BYTES) + 16;
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, MAX_PORTS * WORDS + 4);
    this.bytes = new Uint8Array(sab, (MAX_PORTS * WORDS + 4) * 4, MAX_PORTS * BYTES);
    this.dv = new DataView(sab, (MAX_PORTS * WORDS + 4) * 4, MAX_PORTS * BYTES);
  }

  static create(): PortTable {
    return new PortTable(new SharedArrayBuffer(PortTable.byteSize()));
  }

  /** Highest port id declared + 1 (scans stop there). */
  get portLimit(): number {
    return this.words[LIMIT_WORD]!;
  }

  /** The active VM port of `vni` whose IPv4 is `ip`, or -1 (scan of the declared ports). */
  findIpv4(vni: number, ip: number): number {
    return this.findAddress(vni, ip, W_IPV4, PORT_HAS_IPV4);
  }

  /** The active VM port of `vni` whose IPv6 equals src[off..off+16], or -1. */
  findIpv6(vni: number, src: Uint8Array, off: number): number {
    const w = this.words;
    const n = w[LIMIT_WORD]!;
    const v = vni | 0;
    for (let p = 0; p < n; p++) {
      const base = p * WORDS;
      if (w[base + W_STATE] !== PortState.VF_ACTIVE || w[base + W_VNI] !== v) continue;
      if ((w[base + W_FLAGS]! & PORT_HAS_IPV6) === 0) continue;
      const at = p * BYTES + B_IPV6;
      let i = 0;
      while (i < 16 && this.bytes[at + i] === src[off + i]) i++;
      if (i === 16) return p;
    }
    return -1;
  }

  /** The active VM port of `vni` whose VIP is `ip`, or -1 (DNAT of a new flow). */
  findVip(vni: number, ip: number): number {
    return this.findAddress(vni, ip, W_VIP, PORT_HAS_VIP);
  }

  /** The active VM port of `vni` whose address word `word` is `ip` and that has `flag`, or -1. */
  private findAddress(vni: number, ip: number, word: number, flag: number): number {
    const w = this.words;
    const n = w[LIMIT_WORD]!;
    const ipw = ip | 0;
    const v = vni | 0;
    for (let p = 0; p < n; p++) {
      const base = p * WORDS;
      if (w[base + W_STATE] === PortState.VF_ACTIVE && w[base + word] === ipw && w[base + W_VNI] === v
        && (w[base + W_FLAGS]! & flag) !== 0) return p;
    }
    return -1;
  }

  /** The active VM port of `vni` whose NAT address is `ip` (network NAT), or -1. */
  findNat(vni: number, ip: number): number {
    return this.findAddress(vni, ip, W_NAT_IP, PORT_HAS_NAT);
  }

  /** The port's NAT address (network NAT, new flows get it), or 0 without one. */
  natIp(port: number): number {
    const base = port * WORDS;
    return (this.words[base + W_FLAGS]! & PORT_HAS_NAT) !== 0 ? this.words[base + W_NAT_IP]! >>> 0 : 0;
  }

  /**
   * The port's NAT address and range as last set (max << 16 | min in `natRangeWord`), also after
   * the NAT was disabled and until TableSync forgets it: what a flush matches NATed flows by.
   */
  natIpWord(port: number): number {
    return this.words[port * WORDS + W_NAT_IP]!;
  }
  natRangeWord(port: number): number {
    return this.words[port * WORDS + W_NAT_RANGE]!;
  }

  /** The port's VIP, or 0 without one. */
  vip(port: number): number {
    const base = port * WORDS;
    return (this.words[base + W_FLAGS]! & PORT_HAS_VIP) !== 0 ? this.words[base + W_VIP]! >>> 0 : 0;
  }

  /**
   * On an uplink: whether the underlay router's MAC is known (learned by neighbour discovery). The
   * router MAC lives in the VM MAC words of the PF, so writeEthToVm(pf) addresses the router.
   */
  routerKnown(port: number): boolean {
    return (this.words[port * WORDS + W_FLAGS]! & PORT_MAC_LEARNED) !== 0;
  }

  // ---- hot readers (single words) ----
  state(port: number): number {
    return this.words[port * WORDS + W_STATE]!;
  }
  vni(port: number): number {
    return this.words[port * WORDS + W_VNI]! >>> 0;
  }
  ipv4(port: number): number {
    return this.words[port * WORDS + W_IPV4]! >>> 0;
  }
  flags(port: number): number {
    return this.words[port * WORDS + W_FLAGS]!;
  }
  generation(port: number): number {
    return this.words[port * WORDS + W_GEN]!;
  }
  /** Offset in `bytes` of a port's byte area field. */
  at(port: number, field: number): number {
    return port * BYTES + field;
  }

  /** Copies the VM MAC into dst[off..off+6]; consistent against concurrent learning. */
  copyVmMac(port: number, dst: Uint8Array, off: number): void {
    const w = this.words;
    const base = port * WORDS;
    for (;;) {
      const s1 = Atomics.load(w, base + W_MAC_SEQ);
      const hi = w[base + W_MAC_HI]!;
      const lo = w[base + W_MAC_LO]!;
      if ((s1 & 1) === 0 && Atomics.load(w, base + W_MAC_SEQ) === s1) {
        dst[off] = (hi >>> 8) & 0xff;
        dst[off + 1] = hi & 0xff;
        dst[off + 2] = (lo >>> 24) & 0xff;
        dst[off + 3] = (lo >>> 16) & 0xff;
        dst[off + 4] = (lo >>> 8) & 0xff;
        dst[off + 5] = lo & 0xff;
        return;
      }
    }
  }

  /**
   * Writes the Ethernet addresses toward a VM port at dv[off]: destination the VM MAC, source the
   * port's own MAC. Four DataView stores and plain loads: this runs for every forwarded packet, and
   * an Atomics.load costs ~6 ns here (a builtin call), the sequence lock two of them. Without it a
   * packet that races a MAC change can carry two halves of the VM's old and new MAC: that one packet
   * is lost, as packets to the old MAC are lost anyway while the VM changes it.
   */
  writeEthToVm(port: number, dv: DataView, off: number): void {
    const w = this.words;
    const base = port * WORDS;
    dv.setUint16(off, w[base + W_MAC_HI]!);
    dv.setInt32(off + 2, w[base + W_MAC_LO]!);
    dv.setUint16(off + 6, w[base + W_OWN_HI]!);
    dv.setInt32(off + 8, w[base + W_OWN_LO]!);
  }

  /**
   * Records the VM MAC seen in src[off..off+6]. Called by workers on ARP/DHCP/ND from the VM.
   * Returns true if it changed.
   */
  learnVmMac(port: number, src: Uint8Array, off: number): boolean {
    const w = this.words;
    const base = port * WORDS;
    const hi = (src[off]! << 8) | src[off + 1]!;
    const lo = (src[off + 2]! << 24) | (src[off + 3]! << 16) | (src[off + 4]! << 8) | src[off + 5]!;
    const learned = (w[base + W_FLAGS]! & PORT_MAC_LEARNED) !== 0;
    if (learned && w[base + W_MAC_HI] === hi && w[base + W_MAC_LO] === lo) return false;
    for (;;) {
      const s = Atomics.load(w, base + W_MAC_SEQ);
      if ((s & 1) === 0 && Atomics.compareExchange(w, base + W_MAC_SEQ, s, s + 1) === s) break;
    }
    w[base + W_MAC_HI] = hi;
    w[base + W_MAC_LO] = lo;
    Atomics.or(w, base + W_FLAGS, PORT_MAC_LEARNED);
    Atomics.add(w, base + W_MAC_SEQ, 1);
    Atomics.add(w, EPOCH_WORD, 1);
    return true;
  }

  /** Records that the VM's first ARP since the interface was attached has been seen. */
  markArpDone(port: number): void {
    Atomics.or(this.words, port * WORDS + W_FLAGS, PORT_ARP_DONE);
  }

  /** Whether gRPC Initialize has happened (the periodic schedule counts its fast cycles from it). */
  get initialized(): boolean {
    return Atomics.load(this.words, LIMIT_WORD + 1) !== 0;
  }

  markInitialized(): void {
    Atomics.store(this.words, LIMIT_WORD + 1, 1);
  }

  /** Runs `read` until it saw a configuration no writer was changing (multi-field readers). */
  readStable<T>(port: number, read: () => T): T {
    const w = this.words;
    const i = port * WORDS + W_SEQ;
    for (;;) {
      const s1 = Atomics.load(w, i);
      if ((s1 & 1) !== 0) continue;
      const v = read();
      if (Atomics.load(w, i) === s1) return v;
    }
  }

  /** Reads a length-prefixed string field into dst at off; returns the length. */
  copyString(port: number, field: number, dst: Uint8Array, off: number): number {
    const at = this.at(port, field);
    const n = this.bytes[at]!;
    for (let i = 0; i < n; i++) dst[off + i] = this.bytes[at + 1 + i]!;
    return n;
  }

  // ---- writers (supervisor only, control path) ----
  private beginWrite(port: number): void {
    Atomics.add(this.words, port * WORDS + W_SEQ, 1);
  }
  private endWrite(port: number): void {
    Atomics.add(this.words, port * WORDS + W_SEQ, 1);
    Atomics.add(this.words, EPOCH_WORD, 1);
  }

  /**
   * Declares a port at start-up: its role and own MAC. The VM MAC starts as the port MAC. An uplink
   * gets the host's underlay address (`underlay`, --ipv6) as its own: the outer source of what the
   * service tunnels on behalf of no interface (relayed NAT packets, echo replies for NAT addresses),
   * as upstream's dp_get_port_ul_ipv6 gives it.
   */
  initPort(port: number, state: number, mac: Uint8Array, underlay?: Uint8Array): void {
    const base = port * WORDS;
    this.beginWrite(port);
    this.bytes.set(mac.subarray(0, 6), this.at(port, B_OWN_MAC));
    if (underlay !== undefined) this.bytes.set(underlay.subarray(0, 16), this.at(port, B_UNDERLAY));
    this.words[base + W_STATE] = state;
    this.words[base + W_MAC_HI] = (mac[0]! << 8) | mac[1]!;
    this.words[base + W_MAC_LO] = (mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!;
    this.words[base + W_OWN_HI] = this.words[base + W_MAC_HI]!;
    this.words[base + W_OWN_LO] = this.words[base + W_MAC_LO]!;
    if (port + 1 > this.words[LIMIT_WORD]!) Atomics.store(this.words, LIMIT_WORD, port + 1);
    this.endWrite(port);
  }

  /** Attaches an interface to a VF port. The VM MAC is kept: a new VM may reuse it. */
  attach(port: number, cfg: InterfaceConfig): void {
    const base = port * WORDS;
    this.beginWrite(port);
    this.words[base + W_VNI] = cfg.vni | 0;
    this.words[base + W_IPV4] = cfg.ipv4 | 0;
    let hasV6 = false;
    for (let i = 0; i < 16; i++) if (cfg.ipv6[i] !== 0) hasV6 = true;
    this.bytes.set(cfg.ipv6.subarray(0, 16), this.at(port, B_IPV6));
    this.bytes.set(cfg.underlay.subarray(0, 16), this.at(port, B_UNDERLAY));
    this.writeString(port, B_HOSTNAME, cfg.hostname);
    this.writeString(port, B_PXE_SERVER, cfg.pxeServer);
    this.writeString(port, B_BOOT_FILE, cfg.bootFile);
    // a fresh interface may learn its MAC again (upstream: first ARP/DHCP/ND after install wins)
    this.words[base + W_FLAGS] = (hasV6 ? PORT_HAS_IPV6 : 0) | (cfg.ipv4 !== 0 ? PORT_HAS_IPV4 : 0);
    this.words[base + W_GEN] = this.words[base + W_GEN]! + 1;
    Atomics.store(this.words, base + W_STATE, PortState.VF_ACTIVE);
    this.endWrite(port);
  }

  /** Sets or clears (vip 0) the interface's VIP and its underlay address. */
  setVip(port: number, vip: number, underlay: Uint8Array | null): void {
    const base = port * WORDS;
    this.beginWrite(port);
    if (vip !== 0 && underlay) {
      this.bytes.set(underlay.subarray(0, 16), this.at(port, B_VIP_UNDERLAY));
      this.words[base + W_VIP] = vip | 0;
      Atomics.or(this.words, base + W_FLAGS, PORT_HAS_VIP);
    } else {
      Atomics.and(this.words, base + W_FLAGS, ~PORT_HAS_VIP);
      this.words[base + W_VIP] = 0;
    }
    this.endWrite(port);
  }

  /**
   * Sets the interface's network NAT: address `natIp`, ports [minPort, maxPort). New south-north
   * flows get it from here on.
   */
  setNat(port: number, natIp: number, minPort: number, maxPort: number): void {
    const base = port * WORDS;
    this.beginWrite(port);
    this.words[base + W_NAT_IP] = natIp | 0;
    this.words[base + W_NAT_RANGE] = (maxPort << 16) | minPort;
    Atomics.or(this.words, base + W_FLAGS, PORT_HAS_NAT);
    this.endWrite(port);
  }

  /**
   * Stops giving new flows the interface's NAT. The address and range stay readable (natIpWord)
   * for the flush of the flows that have them; forgetNat clears them after it.
   */
  disableNat(port: number): void {
    Atomics.and(this.words, port * WORDS + W_FLAGS, ~PORT_HAS_NAT);
  }

  /** Clears a disabled NAT's address and range (after the flush of its flows). */
  forgetNat(port: number): void {
    const base = port * WORDS;
    if ((this.words[base + W_FLAGS]! & PORT_HAS_NAT) !== 0) return;
    this.beginWrite(port);
    this.words[base + W_NAT_IP] = 0;
    this.words[base + W_NAT_RANGE] = 0;
    this.endWrite(port);
  }

  /**
   * Stops the interface's port (VF_IDLE: nothing received on it is processed, no VIP or address
   * lookup finds it) but keeps its address, VNI and VIP readable, so the workers can still tell
   * which flows were its own, those DNATed to it included (flowOfPort), when they flush them;
   * detach() clears the rest afterwards.
   */
  deactivate(port: number): void {
    this.beginWrite(port);
    Atomics.store(this.words, port * WORDS + W_STATE, PortState.VF_IDLE);
    this.endWrite(port);
  }

  detach(port: number): void {
    const base = port * WORDS;
    this.beginWrite(port);
    Atomics.store(this.words, base + W_STATE, PortState.VF_IDLE);
    this.words[base + W_VNI] = 0;
    this.words[base + W_IPV4] = 0;
    this.bytes.fill(0, this.at(port, 0), this.at(port, B_OWN_MAC));
    Atomics.and(this.words, base + W_FLAGS, ~(PORT_HAS_IPV4 | PORT_HAS_IPV6 | PORT_HAS_VIP | PORT_HAS_NAT));
    this.words[base + W_VIP] = 0;
    this.words[base + W_NAT_IP] = 0;
    this.words[base + W_NAT_RANGE] = 0;
    this.endWrite(port);
  }

  private writeString(port: number, field: number, s: string): void {
    const at = this.at(port, field);
    const b = Buffer.from(s, 'utf8');
    const n = Math.min(b.length, STR_MAX);
    this.bytes[at] = n;
    this.bytes.set(b.subarray(0, n), at + 1);
  }
}
