/**
 * The one declarative table of `dpservice-bin` service options. Parsing (command line and config
 * file), validation, defaults and `--help` are all driven by it; nothing else lists options.
 *
 * Facts (names, argument names, ranges, defaults, length limits) follow upstream's
 * `hack/dp_conf.json` and `src/dp_conf.c`; help texts are reworded. Rows marked `extension` are
 * dpservice-ts additions and are listed in their own section of `--help`.
 */

/** NIC flavour (`--nic-type`). Only `mellanox` enables metering upstream; `tap` is used by tests. */
export type NicType = 'mellanox' | 'tap' | 'bluefield2';
/** Log colourisation (`--color`). */
export type ColorMode = 'never' | 'always' | 'auto';
/** Log line format (`--log-format`). */
export type LogFormat = 'text' | 'json';

/**
 * Parsed service options. Unset strings are `''`; repeatable options keep their values in the
 * order given (config file first, then command line). Virtual-service specs are kept as given
 * (`IPv4,port,IPv6,port`); `parseVirtsvc()` turns one into its parts.
 */
export interface ServiceOptions {
  /** First physical interface (kernel name, at most 15 bytes). Required. */
  pf0: string;
  /** Second physical interface. Required (upstream initialises both PFs unconditionally). */
  pf1: string;
  /** Host underlay IPv6 address; its /64 prefixes every generated underlay address. Required. */
  ipv6: string;
  /** Substring that VF interface names contain (e.g. `eth1vf`). Required. */
  vfPattern: string;
  /** MTU option in DHCPv4 replies, 68..1500. */
  dhcpMtu: number;
  /** DNS servers announced by DHCPv4 (at most 63: the option length is one byte). */
  dhcpDns: string[];
  /** DNS servers announced by DHCPv6 (at most 15). */
  dhcpv6Dns: string[];
  /** UDP virtual services `IPv4,port,IPv6,port`. */
  udpVirtsvc: string[];
  /** TCP virtual services `IPv4,port,IPv6,port`. */
  tcpVirtsvc: string[];
  /** Percentage of egress sent via pf0, 0..100; 100 disables weighted multipath. */
  wcmp: number;
  nicType: NicType;
  /** Disable the periodic statistics printout. */
  noStats: boolean;
  enableIpv6Overlay: boolean;
  /** Disable rte_flow offloading (required with `multiportEswitch`). */
  noOffload: boolean;
  /** Graph traversal logging: 0 off, 1 rx/tx, 2 every node. */
  graphtraceLoglevel: number;
  color: ColorMode;
  logFormat: LogFormat;
  /** gRPC listen port, 1024..65535. */
  grpcPort: number;
  /** Inactive-flow timeout in seconds (TCP established flows excepted), 1..300. */
  flowTimeout: number;
  multiportEswitch: boolean;
  /** File to flock before processing packets (HA active/standby); '' = none. */
  activeLockfile: string;
  /** TAP interface for HA state sync; '' = sync disabled. */
  syncTap: string;
  /** Write 0x7f to /proc/self/coredump_filter. */
  debugCoredumps: boolean;
  /** Config-file only: EAL `-a` allowlist entry (with mlx5 devargs) for pf0; '' = none. */
  aPf0: string;
  /** Config-file only: EAL `-a` allowlist entry for pf1; '' = none. */
  aPf1: string;
  /** dpservice-ts: workers busy-poll without the idle back-off. */
  noIdleBackoff: boolean;
  /** dpservice-ts: rx burst size per port, 1..1024. */
  burst: number;
  /** dpservice-ts: port of the built-in Prometheus `/metrics` endpoint, 0 = disabled. */
  metricsPort: number;
  /** dpservice-ts: connection-tracking capacity (flows), 1024..16777216. */
  flowTableSize: number;
  /** dpservice-ts: every packet walks the whole graph (no cached per-flow decisions). */
  noFastPath: boolean;
}

/** How an option's value is parsed. `flag` takes no value. */
export type OptionType = 'flag' | 'int' | 'string' | 'ipv4' | 'ipv6' | 'enum' | 'virtsvc';

/** One row of the option table. */
export interface OptionDef {
  /** Long name without `--`; also the config-file key. */
  readonly name: string;
  /** Single-letter alias without `-`. */
  readonly short?: string;
  /** Placeholder shown in `--help` (`--pf0=IFNAME`); absent for flags. */
  readonly arg?: string;
  readonly type: OptionType;
  /** The `ServiceOptions` field it sets; absent for `-h`/`-v`, which act instead. */
  readonly key?: keyof ServiceOptions;
  /** Command-line-only actions that end parsing. */
  readonly action?: 'help' | 'version';
  /** Inclusive range of `int` options. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values of `enum` options, default first in `--help` order. */
  readonly choices?: readonly string[];
  /** Maximum length in bytes of `string` options (upstream's char arrays minus the NUL). */
  readonly maxLength?: number;
  /** Default of scalar options; unset strings default to '' and flags to false. */
  readonly default?: number | string;
  /** May be given several times; values accumulate. */
  readonly repeatable?: boolean;
  /** Maximum number of values of a repeatable option. */
  readonly maxCount?: number;
  /** Must be set (by the file or the command line) to run. */
  readonly required?: boolean;
  /** Only accepted as a config-file key, not on the command line. */
  readonly fileOnly?: boolean;
  /** A dpservice-ts extension (not in upstream). */
  readonly extension?: boolean;
  /** One-line description; ranges, defaults and choices are appended from the row. */
  readonly help: string;
}

/** Linux IF_NAMESIZE (16) minus the terminating NUL. */
const IFNAME_MAX = 15;

/** Upstream `DP_VIRTSVC_MAX`: UDP and TCP services together. */
export const VIRTSVC_MAX = 256;

/** Default config file, read when `DP_CONF` is not set. */
export const DEFAULT_CONF_FILE = '/run/dpservice/dpservice.conf';

/**
 * Every option, in `--help` order. DHCP DNS limits come from the one-byte option length
 * (RFC 2132 / RFC 8415): 63 IPv4 or 15 IPv6 addresses fit in 255 bytes.
 */
export const OPTION_TABLE = [
  { name: 'help', short: 'h', type: 'flag', action: 'help', help: 'display this help and exit' },
  { name: 'version', short: 'v', type: 'flag', action: 'version', help: 'display version and exit' },
  {
    name: 'pf0', arg: 'IFNAME', type: 'string', key: 'pf0', maxLength: IFNAME_MAX, required: true,
    help: 'first physical interface, e.g. eth0',
  },
  {
    name: 'pf1', arg: 'IFNAME', type: 'string', key: 'pf1', maxLength: IFNAME_MAX, required: true,
    help: 'second physical interface, e.g. eth1',
  },
  { name: 'ipv6', arg: 'ADDR6', type: 'ipv6', key: 'ipv6', required: true, help: 'IPv6 underlay address of this host' },
  {
    name: 'vf-pattern', arg: 'PATTERN', type: 'string', key: 'vfPattern', maxLength: IFNAME_MAX, required: true,
    help: "name pattern of virtual function interfaces, e.g. 'eth1vf'",
  },
  {
    name: 'dhcp-mtu', arg: 'SIZE', type: 'int', key: 'dhcpMtu', min: 68, max: 1500, default: 1500,
    help: 'MTU announced in DHCP replies',
  },
  {
    name: 'dhcp-dns', arg: 'IPv4', type: 'ipv4', key: 'dhcpDns', repeatable: true, maxCount: 63,
    help: 'DNS server announced in DHCP replies',
  },
  {
    name: 'dhcpv6-dns', arg: 'ADDR6', type: 'ipv6', key: 'dhcpv6Dns', repeatable: true, maxCount: 15,
    help: 'DNS server announced in DHCPv6 replies',
  },
  {
    name: 'udp-virtsvc', arg: 'IPv4,port,IPv6,port', type: 'virtsvc', key: 'udpVirtsvc', repeatable: true,
    maxCount: VIRTSVC_MAX, help: 'map a VM-visible IPv4 endpoint to an outside IPv6 UDP service',
  },
  {
    name: 'tcp-virtsvc', arg: 'IPv4,port,IPv6,port', type: 'virtsvc', key: 'tcpVirtsvc', repeatable: true,
    maxCount: VIRTSVC_MAX, help: 'map a VM-visible IPv4 endpoint to an outside IPv6 TCP service',
  },
  {
    name: 'wcmp', arg: 'PERCENTAGE', type: 'int', key: 'wcmp', min: 0, max: 100, default: 100,
    help: 'weighted-cost-multipath share of egress traffic sent via pf0',
  },
  {
    name: 'nic-type', arg: 'NICTYPE', type: 'enum', key: 'nicType', choices: ['mellanox', 'tap', 'bluefield2'],
    default: 'mellanox', help: 'NIC type to use',
  },
  { name: 'no-stats', type: 'flag', key: 'noStats', help: 'do not print periodic statistics to stdout' },
  { name: 'enable-ipv6-overlay', type: 'flag', key: 'enableIpv6Overlay', help: 'enable IPv6 overlay addresses' },
  { name: 'no-offload', type: 'flag', key: 'noOffload', help: 'disable traffic offloading' },
  {
    name: 'graphtrace-loglevel', arg: 'LEVEL', type: 'int', key: 'graphtraceLoglevel', min: 0, max: 2, default: 0,
    help: 'log packets traversing the graph: 1 = rx/tx, 2 = every node',
  },
  {
    name: 'color', arg: 'MODE', type: 'enum', key: 'color', choices: ['never', 'always', 'auto'], default: 'never',
    help: 'output colorization mode',
  },
  {
    name: 'log-format', arg: 'FORMAT', type: 'enum', key: 'logFormat', choices: ['text', 'json'], default: 'text',
    help: 'format of log lines on standard output',
  },
  {
    name: 'grpc-port', arg: 'PORT', type: 'int', key: 'grpcPort', min: 1024, max: 65535, default: 1337,
    help: 'listen for gRPC clients on this port',
  },
  {
    name: 'flow-timeout', arg: 'SECONDS', type: 'int', key: 'flowTimeout', min: 1, max: 300, default: 30,
    help: 'inactive flow timeout, except for established TCP flows',
  },
  {
    name: 'multiport-eswitch', type: 'flag', key: 'multiportEswitch',
    help: 'run on a NIC configured in multiport e-switch mode (needs --no-offload)',
  },
  {
    name: 'active-lockfile', arg: 'PATH', type: 'string', key: 'activeLockfile', maxLength: 255,
    help: 'file to lock before starting packet processing',
  },
  {
    name: 'sync-tap', arg: 'IFNAME', type: 'string', key: 'syncTap', maxLength: IFNAME_MAX,
    help: 'TAP device used for dpservice-ha synchronization',
  },
  {
    name: 'debug-coredumps', type: 'flag', key: 'debugCoredumps',
    help: 'set /proc/self/coredump_filter to 0x7f for complete core dumps',
  },
  {
    name: 'a-pf0', arg: 'DEVARGS', type: 'string', key: 'aPf0', maxLength: 127, fileOnly: true,
    help: 'EAL -a allowlist entry with devargs for pf0',
  },
  {
    name: 'a-pf1', arg: 'DEVARGS', type: 'string', key: 'aPf1', maxLength: 127, fileOnly: true,
    help: 'EAL -a allowlist entry with devargs for pf1',
  },
  {
    name: 'no-idle-backoff', type: 'flag', key: 'noIdleBackoff', extension: true,
    help: 'workers busy-poll without the idle back-off',
  },
  {
    name: 'burst', arg: 'PACKETS', type: 'int', key: 'burst', min: 1, max: 1024, default: 32, extension: true,
    help: 'rx burst size per port',
  },
  {
    name: 'metrics-port', arg: 'PORT', type: 'int', key: 'metricsPort', min: 0, max: 65535, default: 0,
    extension: true, help: 'serve Prometheus /metrics on this port, 0 = disabled',
  },
  {
    name: 'flow-table-size', arg: 'FLOWS', type: 'int', key: 'flowTableSize', min: 1024, max: 16777216,
    default: 1048576, extension: true, help: 'connection-tracking capacity in flows (both directions of a connection are one flow)',
  },
  {
    name: 'no-fast-path', type: 'flag', key: 'noFastPath', extension: true,
    help: 'every packet walks the whole graph (no cached per-flow decisions)',
  },
] as const satisfies readonly OptionDef[];

/**
 * Compile-time check that every `ServiceOptions` field has a row: this alias is `never` exactly
 * when the table is complete, and `TABLE_COVERS_ALL_FIELDS` fails to type-check otherwise.
 */
export type FieldsWithoutRow = Exclude<keyof ServiceOptions, Extract<(typeof OPTION_TABLE)[number], { key: string }>['key']>;
export const TABLE_COVERS_ALL_FIELDS: [FieldsWithoutRow] extends [never] ? true : never = true;
