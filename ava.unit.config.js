// Unit tests: pure JS on bytes in buffers, no DPDK. Fast, parallel.
export default {
  files: ['dist/test/unit/**/*.test.js'],
  timeout: '60s',
};
