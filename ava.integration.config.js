// Integration tests load the native shim and run real DPDK on TAP ports in network namespaces:
// one file at a time (a polling worker takes a whole core of two), in child processes.
export default {
  files: ['dist/test/integration/**/*.test.js'],
  workerThreads: false,
  concurrency: 1,
  serial: true,
  timeout: '180s',
};
