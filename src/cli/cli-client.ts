/**
 * The CLI's gRPC connection to dpservice: dials like upstream's DPDKClientOptions.NewClient (block
 * until connected, bounded by --connect-timeout) and turns gRPC failures into the Go error texts
 * that dpservice-cli reports ("rpc error: code = InvalidArgument desc = ..."). Control path only.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GoError } from './cli-go.js';

/**
 * A decoded protobuf message: bytes fields are Buffers, uint64 fields decimal strings, enums
 * numbers, unset message fields null, unset scalars their zero value; oneofs also name their set
 * member.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = any;

/** One connected client; every call answers a response or throws a GoError. */
export interface RpcClient {
  call(rpc: string, req: object): Promise<Msg>;
  close(): void;
}

/** codes.Code.String() of grpc-go, by code number. */
const GO_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented',
  'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,   // field names as in the .proto (interface_id, meteringParams)
  longs: String,    // uint64 metering rates stay exact
  enums: Number,
  defaults: true,   // unset scalars read as zero values, unset messages as null (Go's nil)
  oneofs: true,
};

/** Upstream's grpc-go CLI waits forever for an answer; this bounds a call to a hung service. */
const RPC_TIMEOUT_MS = 30_000;

/** proto/dpdk.proto of this project, found by walking up from this module (src/cli or dist/src/cli). */
function dpdkProtoPath(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto', 'dpdk.proto');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new GoError(`proto/dpdk.proto not found above ${start}`);
  }
}

/** The text of a gRPC failure as grpc-go's status error prints it. */
export function grpcErrorText(code: number, details: string): string {
  return `rpc error: code = ${GO_CODE_NAMES[code] ?? `Code(${code})`} desc = ${details}`;
}

/**
 * Connects to address (host:port), waiting at most connectTimeoutMs for the channel to be ready;
 * fails with upstream's "error connecting to <address>: context deadline exceeded".
 */
export async function connect(address: string, connectTimeoutMs: number): Promise<RpcClient> {
  const def = protoLoader.loadSync(dpdkProtoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as Msg;
  const fail = (): GoError => new GoError(`error connecting to ${address}: context deadline exceeded`);
  let client: grpc.Client;
  try {
    client = new pkg.dpdkironcore.v1.DPDKironcore(address, grpc.credentials.createInsecure()) as grpc.Client;
  } catch {
    throw fail();
  }
  if (connectTimeoutMs <= 0) {
    client.close();
    throw fail();
  }
  await new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + connectTimeoutMs, (err) => {
      if (err) {
        client.close();
        reject(fail());
      } else resolve();
    });
  });
  const methods = client as unknown as Record<string, (req: object, opts: object, cb: (e: grpc.ServiceError | null, r: Msg) => void) => void>;
  return {
    call: (rpc, req) =>
      new Promise((resolve, reject) => {
        const fn = methods[rpc];
        if (typeof fn !== 'function') {
          reject(new GoError(grpcErrorText(grpc.status.UNIMPLEMENTED, `unknown method ${rpc}`), grpc.status.UNIMPLEMENTED));
          return;
        }
        fn.call(client, req, { deadline: Date.now() + RPC_TIMEOUT_MS }, (err, res) => {
          if (err) reject(new GoError(grpcErrorText(err.code, err.details), err.code));
          else resolve(res);
        });
      }),
    close: () => client.close(),
  };
}
