/**
 * Why a packet was dropped. One counter per reason per worker (see counters.ts); the names are
 * what telemetry and metrics show. Append only: the numbers index shared counter arrays.
 */
export const DropReason = {
  NONE: 0,
  TRUNCATED: 1,          // shorter than the headers it claims
  MALFORMED: 2,          // a header field is invalid (version, IHL, lengths)
  NOT_ETHERNET: 3,
  UNSUPPORTED_ETHERTYPE: 4,
  PORT_NOT_ACTIVE: 5,    // no interface on this VF
  ARP_NOT_FOR_US: 6,
  ND_NOT_HANDLED: 7,
  DHCP_NOT_HANDLED: 8,   // not a request we answer (wrong type, options, no address)
  DHCPV6_NOT_HANDLED: 9,
  NO_ROUTE: 10,
  UNSUPPORTED_PROTOCOL: 11,
  NO_ROOM: 12,           // the reply does not fit in the buffer
  TX_FULL: 13,           // the tx queue did not take it
  FROM_PF: 14,           // traffic on an uplink that is not ours to handle
  TTL_EXCEEDED: 15,
  BAD_CHECKSUM: 16,
  NO_OUTPUT: 17,         // the node chose a port without a tx node, or an edge it does not have
  CONSUMED: 18,          // handled here, nothing to send (learned a neighbour from it)
  FLOW_TABLE_FULL: 19,   // a new flow did not fit in the connection-tracking table
  NO_VNF: 20,            // tunnelled to an underlay address that is not ours
  PF_TO_PF: 21,          // arrived on an uplink and routed back to an uplink
  NO_UPLINK: 22,         // an encapsulated packet found no uplink to leave by
  UNSUPPORTED_VNF: 23,   // tunnelled to a VNF this build does not serve yet (load balancer)
  NAT_PORTS_FULL: 24,    // network NAT: every port of the interface's range is in use toward this remote end
  NAT_NO_FLOW: 25,       // to a NAT address, no flow of ours and no neighbour's port (upstream: premature DNAT)
  LB_NO_TARGET: 26,      // to a load balancer: a port or protocol it does not balance, no target, or it went away
  VIRTSVC_PORTS_FULL: 27, // a virtual service has all of its 64,512 ports in use (upstream: "Out of virtsvc ports")
  VIRTSVC_NO_CONN: 28,   // from a virtual service's address and port, to no connection of ours
} as const;

export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason];

/** Names by number, for counters and telemetry. */
export const DROP_REASON_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(DropReason)) names[v] = k.toLowerCase();
  return names;
})();

export const DROP_REASON_COUNT = DROP_REASON_NAMES.length;
