/**
 * PM2 deployment of dpservice-ts: `pm2 start pm2.config.js`.
 *
 * The dataplane is one process (the DPDK primary); its worker threads are the EAL worker lcores,
 * so core-count tuning is the lcore list: DPS_LCORES="0-3" gives the supervisor lcore 0 and three
 * workers (lcores 1-3), each pinned to its CPU and owning one queue on every port.
 *
 * Service options come from the upstream-compatible conf file (/run/dpservice/dpservice.conf, or
 * $DP_CONF): pf0, pf1, vf-pattern, ipv6, ... EAL device arguments come from DPS_EAL_ARGS.
 *
 *   DPS_LCORES       lcore list for -l (default "0,1": one worker)
 *   DPS_EAL_ARGS     further EAL arguments, e.g. "-a 0000:3b:00.0,representor=pf0vf[0-3]"
 *   DPS_ARGS         further service arguments, e.g. "--metrics-port=9064 --log-format=json"
 *
 * PM2 reads this file with require(); Node 20 hands it the module namespace, so the ecosystem is
 * the named export `apps`.
 */
const env = process.env;
const lcores = env.DPS_LCORES ?? '0,1';
const split = (s) => (s ?? '').split(/\s+/).filter(Boolean);

export const apps = [
  {
    name: 'dpservice',
    script: 'bin/dpservice-bin',
    interpreter: 'none',
    args: ['-l', lcores, ...split(env.DPS_EAL_ARGS), '--', ...split(env.DPS_ARGS)],
    exec_mode: 'fork',
    instances: 1,
    // SIGINT first; the service drains gRPC, stops workers and ports, then exits 0
    kill_signal: 'SIGINT',
    kill_timeout: 15000,
    autorestart: true,
    restart_delay: 2000,
    max_restarts: 20,
    min_uptime: 10000,
    merge_logs: true,
    time: false,
  },
];
