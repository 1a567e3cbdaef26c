/**
 * What graph nodes may read besides the packet: shared tables and the service settings that shape
 * replies. Built once per worker; nodes keep a reference and never allocate from it per packet.
 */
import type { PortTable } from '../tables/port-table.js';

export interface NodeSettings {
  /** MTU announced in DHCPv4 option 26 (--dhcp-mtu). */
  dhcpMtu: number;
  /** DHCPv4 DNS servers, 4 bytes each, concatenated (--dhcp-dns, in order). */
  dhcpDns: Uint8Array;
  /** DHCPv6 DNS servers, 16 bytes each, concatenated (--dhcpv6-dns, in order). */
  dhcpv6Dns: Uint8Array;
  /** --enable-ipv6-overlay */
  ipv6Overlay: boolean;
}

export interface NodeContext {
  ports: PortTable;
  settings: NodeSettings;
}
