/**
 * A promise-based gRPC client for dpdkironcore.v1.DPDKironcore over the project's proto, for the
 * demo, tests and tools. Fields keep their proto names (keepCase); enums travel as names.
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT } from './host-tools.js';

// The service's replies are loosely typed here: callers read the fields they asked for.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Reply = any;

export interface DpClient {
  call(method: string, req?: object, timeoutMs?: number): Promise<Reply>;
  close(): void;
}

export function dpClient(address: string): DpClient {
  const def = protoLoader.loadSync(resolve(ROOT, 'proto/dpdk.proto'), { keepCase: true, longs: Number, enums: String, defaults: true });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.dpdkironcore.v1.DPDKironcore(address, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, (req: object, opts: object, cb: (err: Error | null, resp: Reply) => void) => void>;
  return {
    call: (method, req = {}, timeoutMs = 10000) => new Promise((res, rej) => {
      const fn = client[method];
      if (typeof fn !== 'function') {
        rej(new Error(`no RPC ${method}`));
        return;
      }
      fn.call(client, req, { deadline: Date.now() + timeoutMs }, (err, resp) => (err ? rej(err) : res(resp)));
    }),
    close: () => client.close(),
  };
}
