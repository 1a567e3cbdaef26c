/**
 * The dpservice error catalog: the numbers clients see in `Status.code` of a gRPC response.
 * They are part of the wire contract (clients ignore or retry on specific numbers), so they never
 * change; new errors get new numbers. `Status.message` carries the symbolic name (e.g. "NO_VM"),
 * and success is code 0 with the message "Success".
 *
 * Control-plane code throws `DpError` with one of these codes; only the gRPC boundary turns it
 * into a `Status`.
 */

/** Every dpservice error number by symbolic name, grouped by hundreds as upstream groups them. */
export const DpErrorCode = {
  // unknown request
  BAD_REQUEST: 101,
  // general
  NOT_FOUND: 201,
  ALREADY_EXISTS: 202,
  WRONG_TYPE: 203,
  BAD_IPVER: 204,
  NO_VM: 205,
  NO_VNI: 206,
  ITERATOR: 207,
  OUT_OF_MEMORY: 208,
  LIMIT_REACHED: 209,
  ALREADY_ACTIVE: 210,
  NOT_ACTIVE: 211,
  ROLLBACK: 212,
  RTE_RULE_ADD: 213,
  RTE_RULE_DEL: 214,
  // routes
  ROUTE_EXISTS: 301,
  ROUTE_NOT_FOUND: 302,
  ROUTE_INSERT: 303,
  ROUTE_BAD_PORT: 304,
  ROUTE_RESET: 305,
  // destination NAT
  DNAT_NO_DATA: 321,
  DNAT_CREATE: 322,
  DNAT_EXISTS: 323,
  // source NAT
  SNAT_NO_DATA: 341,
  SNAT_CREATE: 342,
  SNAT_EXISTS: 343,
  // VNI route tables
  VNI_INIT4: 361,
  VNI_INIT6: 362,
  VNI_FREE4: 363,
  VNI_FREE6: 364,
  // ports
  PORT_START: 381,
  PORT_STOP: 382,
  PORT_METER: 383,
  // underlay (VNF) addresses and interface handles
  VNF_INSERT: 401,
  VM_HANDLE: 402,
  VNF_DELETE: 403,
  // load balancers
  NO_BACKIP: 421,
  NO_LB: 422,
  BACKIP_ADD: 423,
  BACKIP_DEL: 424,
  // firewall
  NO_DROP_SUPPORT: 441,
} as const;

export type DpErrorName = keyof typeof DpErrorCode;
export type DpErrorNumber = (typeof DpErrorCode)[DpErrorName];

/** Status code of a successful call. */
export const DP_OK = 0;
/** Status message of a successful call. */
export const SUCCESS_MESSAGE = 'Success';
/** Message for a number outside the catalog (a programming error; never sent on purpose). */
export const UNKNOWN_ERROR_MESSAGE = 'Invalid gRPC error code';

const NAMES = new Map<number, DpErrorName>(
  (Object.entries(DpErrorCode) as [DpErrorName, number][]).map(([name, code]) => [code, name]),
);

/** Every catalogued error number, ascending. */
export const DP_ERROR_CODES: readonly number[] = [...NAMES.keys()].sort((a, b) => a - b);

/** True for 0 and every catalogued error number. */
export function isStatusCode(code: number): boolean {
  return code === DP_OK || NAMES.has(code);
}

/** The `Status.message` for a code: "Success", the symbolic name, or a marker for unknown codes. */
export function statusMessage(code: number): string {
  if (code === DP_OK) return SUCCESS_MESSAGE;
  return NAMES.get(code) ?? UNKNOWN_ERROR_MESSAGE;
}

/** The `Status` message of the proto (`{code, message}`). */
export interface DpStatus {
  code: number;
  message: string;
}

/** Builds the proto `Status` for a code (0 = success). */
export function dpStatus(code: number): DpStatus {
  return { code, message: statusMessage(code) };
}

/** The success `Status`, one shared frozen object. */
export const STATUS_OK: Readonly<DpStatus> = Object.freeze(dpStatus(DP_OK));

/**
 * An application-level failure with a catalogued number. The message carries context for logs
 * (which object, which value); clients only ever see the code and its symbolic name.
 */
export class DpError extends Error {
  override readonly name = 'DpError';

  constructor(
    readonly code: DpErrorNumber,
    context?: string,
  ) {
    super(context === undefined ? statusMessage(code) : `${statusMessage(code)}: ${context}`);
  }

  /** The proto `Status` for this error. */
  toStatus(): DpStatus {
    return dpStatus(this.code);
  }
}

/** Narrowing helper for catch blocks. */
export function isDpError(e: unknown): e is DpError {
  return e instanceof DpError;
}
