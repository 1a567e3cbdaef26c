/*
 * dpshim: the one native piece of dpservice-ts. A thin layer over DPDK 22.11 that JS loads with
 * koffi. It owns no packet logic: it moves mbufs between NIC queues and arrays of mbuf offsets
 * that JS reads and writes, and it exposes the single mbuf pool as one contiguous region so that
 * JS can map it once (koffi.view) and touch packet bytes without a per-packet FFI call.
 *
 * A packet crosses the FFI as a descriptor in the calling thread's io area (see dps_io): its
 * mbuf's offset from the pool base, where its frame starts, its length and its port. JS never
 * reads the mbuf header on the packet path; the shim writes data_off/data_len/pkt_len back only
 * for frames that moved or changed length. A fresh mbuf (dps_alloc_mbufs) has its data after the
 * headroom dps_pool_info reports.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#define DPS_MAX_BURST 1024
#define DPS_NO_PORT 0xffffu

static struct rte_mempool *dps_pool;
static uintptr_t dps_base;
static uint64_t dps_len;
/* Bytes from an mbuf to its data buffer (header and private area). */
static uint16_t dps_shift;

/* Per-thread scratch of dps_alloc_mbufs (the hot path's own scratch is in the io area). */
static __thread struct rte_mbuf *alloc_bufs[DPS_MAX_BURST];

int dps_eal_init(int argc, const char **argv)
{
	char *args[256];
	int ret;
	cpu_set_t all;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (argc > 255)
		return -E2BIG;
	for (int i = 0; i < argc; ++i)
		args[i] = (char *)argv[i];
	args[argc] = NULL;
	ret = rte_eal_init(argc, args);
	if (ret < 0)
		return -rte_errno;
	/* rte_eal_init pins the calling (main) thread to the main lcore; node's own threads and the
	 * workers created later would inherit that one-CPU mask. Release it: workers pin themselves. */
	CPU_ZERO(&all);
	for (long c = 0; c < ncpu && c < CPU_SETSIZE; ++c)
		CPU_SET(c, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	return ret;
}

/* Removes the files of a runtime directory (no subdirectories are made there) and the directory. */
static void remove_runtime_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/*
 * Releases EAL, then (primary process only) removes its runtime directory
 * (/var/run/dpdk/<file-prefix>: config, memory segment lists, sockets; ~12 MB with --no-huge),
 * which EAL leaves behind and nothing reads once the primary is gone. A process that dies without
 * this leaves it; the next primary with the same prefix takes it over.
 */
int dps_eal_cleanup(void)
{
	char dir[PATH_MAX];
	int primary = rte_eal_process_type() == RTE_PROC_PRIMARY;
	int ret;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	ret = rte_eal_cleanup();
	if (ret == 0 && primary && dir[0] != '\0')
		remove_runtime_dir(dir);
	return ret;
}

const char *dps_strerror(int err)
{
	return rte_strerror(err < 0 ? -err : err);
}

int dps_main_lcore(void)
{
	return (int)rte_get_main_lcore();
}

/* Fills out[] with the enabled lcores (main included), returns their count. */
int dps_lcores(int32_t *out, int max)
{
	int n = 0;
	unsigned int lc;

	RTE_LCORE_FOREACH(lc) {
		if (n < max)
			out[n] = (int32_t)lc;
		n++;
	}
	return n;
}

/* First CPU of an lcore's cpuset, -1 if none. */
int dps_lcore_cpu(int lcore)
{
	rte_cpuset_t set = rte_lcore_cpuset((unsigned int)lcore);

	for (int c = 0; c < CPU_SETSIZE; ++c)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

static void span_chunk(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *hdr, unsigned int idx)
{
	uintptr_t *span = opaque;
	uintptr_t lo = (uintptr_t)hdr->addr, hi = lo + hdr->len;

	RTE_SET_USED(mp);
	RTE_SET_USED(idx);
	if (span[0] == 0 || lo < span[0])
		span[0] = lo;
	if (hi > span[1])
		span[1] = hi;
}

/* A transparent huge page (x86-64). */
#define DPS_HUGE_PAGE ((uintptr_t)2 << 20)

/*
 * Asks the kernel for transparent huge pages (MADV_HUGEPAGE) on the 2 MiB-aligned part of
 * [addr, addr + len): the shared tables (flows, routes, VNFs) are SharedArrayBuffers, which V8
 * maps with 4 KiB pages, and their lookups at large sizes cost TLB misses more than cache misses
 * (the mbuf pool without hugepages too: pool_on_thp).
 * With THP in "madvise" mode (Debian's default) pages faulted afterwards come as 2 MiB pages.
 * Returns the bytes advised (0 if the range holds no aligned 2 MiB page) or -errno.
 */
int64_t dps_advise_huge(void *addr, uint64_t len)
{
	uintptr_t start = RTE_ALIGN_CEIL((uintptr_t)addr, DPS_HUGE_PAGE);
	uintptr_t end = RTE_ALIGN_FLOOR((uintptr_t)addr + len, DPS_HUGE_PAGE);

	if (end <= start)
		return 0;
	if (madvise((void *)start, end - start, MADV_HUGEPAGE) != 0)
		return -errno;
	return (int64_t)(end - start);
}

/*
 * Without hugepages (--no-huge) EAL's memory is a shared memfd, and shared memory gets no
 * transparent huge pages unless the machine enables them for shmem (Debian: never), so every
 * mbuf sat on 4 KiB pages, and the mbufs a worker cycles through outgrew the TLB. So the pool
 * gets a private anonymous mapping of its own with MADV_HUGEPAGE: bench/rxtx-floor's C loop
 * 34-36 -> 22-25 ns per packet, level with testpmd's io forwarding. Virtual devices (TAP,
 * pcap, null, ring, memif) copy through the CPU and need no IOVA; with hugepages (any NIC) the
 * pool stays in EAL's memory. Returns the pool or NULL with rte_errno set.
 */
static struct rte_mempool *pool_on_thp(const char *name, uint32_t n, uint32_t cache, uint16_t data_room)
{
	struct rte_pktmbuf_pool_private priv = { .mbuf_data_room_size = data_room, .mbuf_priv_size = 0 };
	struct rte_mempool *mp;
	size_t min_chunk, align;
	ssize_t need;
	uint8_t *map, *start;
	size_t len;
	int ret;

	/* no DMA: objects need not be IOVA-contiguous, so none is kept off a page boundary */
	mp = rte_mempool_create_empty(name, n, (unsigned int)(sizeof(struct rte_mbuf) + data_room), cache,
				      sizeof(struct rte_pktmbuf_pool_private), (int)rte_socket_id(),
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mp)
		return NULL;
	ret = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (ret != 0)
		goto fail;
	rte_pktmbuf_pool_init(mp, &priv);
	need = rte_mempool_op_calc_mem_size_default(mp, n, 0, &min_chunk, &align);
	if (need < 0) {
		ret = (int)need;
		goto fail;
	}
	len = RTE_ALIGN_CEIL((size_t)need, DPS_HUGE_PAGE);
	map = mmap(NULL, len + DPS_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto fail;
	}
	/* 2 MiB-aligned; the unaligned ends go back */
	start = (uint8_t *)RTE_ALIGN_CEIL((uintptr_t)map, DPS_HUGE_PAGE);
	if (start > map)
		munmap(map, (size_t)(start - map));
	munmap(start + len, (size_t)(map + DPS_HUGE_PAGE - start));
	/* a kernel without THP serves the range with small pages, as before */
	(void)dps_advise_huge(start, len);
	/* one chunk, no IOVA (as rte_mempool_populate_virt gives without hugepages where it finds none) */
	ret = rte_mempool_populate_iova(mp, (char *)start, RTE_BAD_IOVA, len, NULL, NULL);
	if (ret >= 0 && mp->populated_size == mp->size) {
		rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
		return mp;
	}
	rte_mempool_free(mp);
	munmap(start, len);
	rte_errno = ret < 0 ? -ret : ENOMEM;
	return NULL;
fail:
	rte_mempool_free(mp);
	rte_errno = -ret;
	return NULL;
}

/*
 * Creates the mbuf pool: without hugepages on a mapping of its own (pool_on_thp), else, or if that
 * fails, or with in_eal non-zero, in EAL's memory (rte_pktmbuf_pool_create). in_eal is for tests:
 * it runs the hugepage machines' path on a machine without them.
 */
static int pool_create(uint32_t nb_mbufs, uint32_t cache, uint32_t data_room, int in_eal)
{
	uintptr_t span[2] = { 0, 0 };
	uint16_t room = (uint16_t)(data_room + RTE_PKTMBUF_HEADROOM);

	if (dps_pool)
		return -EEXIST;
	if (!rte_eal_has_hugepages() && !in_eal)
		dps_pool = pool_on_thp("dps_mbuf_pool", nb_mbufs, cache, room);
	/* with hugepages, or if the mapping of its own failed: EAL's memory, as before */
	if (!dps_pool)
		dps_pool = rte_pktmbuf_pool_create("dps_mbuf_pool", nb_mbufs, cache, 0, room, (int)rte_socket_id());
	if (!dps_pool)
		return -rte_errno;
	rte_mempool_mem_iter(dps_pool, span_chunk, span);
	/* Without hugepages all chunks live in one virtual area; the span covers every mbuf. */
	if (span[1] - span[0] > UINT32_MAX)
		return -E2BIG;
	dps_base = span[0];
	dps_len = span[1] - span[0];
	dps_shift = (uint16_t)(sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(dps_pool));
	return 0;
}

int dps_pool_create(uint32_t nb_mbufs, uint32_t cache, uint32_t data_room)
{
	return pool_create(nb_mbufs, cache, data_room, 0);
}

/* dps_pool_create in EAL's memory, as with hugepages (for tests on machines without them). */
int dps_pool_create_eal(uint32_t nb_mbufs, uint32_t cache, uint32_t data_room)
{
	return pool_create(nb_mbufs, cache, data_room, 1);
}

void *dps_pool_base(void)
{
	return (void *)dps_base;
}

/* out: [0] region length, [1] buf shift (mbuf -> buf_addr), [2] buf_len, [3] headroom,
 *      [4] mbuf count, [5] mbufs available now */
int dps_pool_info(uint32_t *out)
{
	if (!dps_pool)
		return -ENOENT;
	out[0] = (uint32_t)dps_len;
	out[1] = (uint32_t)(sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(dps_pool));
	out[2] = rte_pktmbuf_data_room_size(dps_pool);
	out[3] = RTE_PKTMBUF_HEADROOM;
	out[4] = dps_pool->size;
	out[5] = rte_mempool_avail_count(dps_pool);
	return 0;
}

static inline struct rte_mbuf *mbuf_at(uint32_t off)
{
	return (struct rte_mbuf *)(dps_base + off);
}

static inline uint32_t mbuf_off(const struct rte_mbuf *m)
{
	return (uint32_t)((uintptr_t)m - dps_base);
}

/* Port lookup: DPDK device name (net_tap2, net_null_pf0) or kernel interface name (dtap0). */
int dps_port_by_name(const char *name)
{
	uint16_t pid;
	struct rte_eth_dev_info info;
	char ifname[IF_NAMESIZE];

	if (rte_eth_dev_get_port_by_name(name, &pid) == 0)
		return pid;
	RTE_ETH_FOREACH_DEV(pid) {
		if (rte_eth_dev_info_get(pid, &info) != 0 || info.if_index == 0)
			continue;
		if (if_indextoname(info.if_index, ifname) && strcmp(ifname, name) == 0)
			return pid;
	}
	return -ENODEV;
}

int dps_port_count(void)
{
	return rte_eth_dev_count_avail();
}

int dps_port_name(uint16_t port, char *out, int len)
{
	char name[RTE_ETH_NAME_MAX_LEN];

	if (rte_eth_dev_get_name_by_port(port, name) != 0)
		return -ENODEV;
	snprintf(out, (size_t)len, "%s", name);
	return 0;
}

int dps_port_ifname(uint16_t port, char *out, int len)
{
	struct rte_eth_dev_info info;
	char ifname[IF_NAMESIZE];

	out[0] = 0;
	if (rte_eth_dev_info_get(port, &info) != 0)
		return -ENODEV;
	if (info.if_index == 0 || !if_indextoname(info.if_index, ifname))
		return 0;
	snprintf(out, (size_t)len, "%s", ifname);
	return 1;
}

/*
 * One rx and one tx queue per worker. Works for ports without RSS (net_tap with one queue,
 * net_null, net_ring), without link-state interrupts and without packet-type parsing: none is
 * requested unless the device offers it.
 */
static int port_setup(uint16_t port, uint16_t nb_queues, uint16_t nb_rxd, uint16_t nb_txd, int with_rx_intr);

int dps_port_setup(uint16_t port, uint16_t nb_queues, uint16_t nb_rxd, uint16_t nb_txd)
{
	int ret = port_setup(port, nb_queues, nb_rxd, nb_txd, 1);

	if (ret != 0)
		ret = port_setup(port, nb_queues, nb_rxd, nb_txd, 0);
	return ret;
}

static int port_setup(uint16_t port, uint16_t nb_queues, uint16_t nb_rxd, uint16_t nb_txd, int with_rx_intr)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int ret;

	if (!dps_pool)
		return -ENOENT;
	ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		return ret;
	if (nb_queues > info.max_rx_queues || nb_queues > info.max_tx_queues)
		return -EINVAL;
	memset(&conf, 0, sizeof(conf));
	/* rx queue interrupts where the PMD has them (net_tap: the queue's fd): idle workers sleep on
	 * them (dps_idle_wait); a PMD that refuses them is set up without */
	conf.intr_conf.rxq = with_rx_intr ? 1 : 0;
	if (nb_queues > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads &
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
		if (conf.rx_adv_conf.rss_conf.rss_hf == 0)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
	}
	ret = rte_eth_dev_configure(port, nb_queues, nb_queues, &conf);
	if (ret != 0 && conf.rxmode.mq_mode != RTE_ETH_MQ_RX_NONE) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
		conf.rx_adv_conf.rss_conf.rss_hf = 0;
		ret = rte_eth_dev_configure(port, nb_queues, nb_queues, &conf);
	}
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (ret != 0)
		return ret;
	for (uint16_t q = 0; q < nb_queues; ++q) {
		ret = rte_eth_rx_queue_setup(port, q, nb_rxd, rte_eth_dev_socket_id(port), NULL, dps_pool);
		if (ret != 0)
			return ret;
		ret = rte_eth_tx_queue_setup(port, q, nb_txd, rte_eth_dev_socket_id(port), NULL);
		if (ret != 0)
			return ret;
	}
	ret = rte_eth_dev_start(port);
	if (ret != 0)
		return ret;
	/* Not every PMD supports promiscuous mode; TAP and vdevs forward everything anyway. */
	rte_eth_promiscuous_enable(port);
	return 0;
}

/*
 * Directs the signal of every O_ASYNC rx queue fd of queue `qid` on `ports[0..n)` (net_tap's: its
 * rx burst reads nothing until that signal's handler has run) to the calling thread, the worker
 * that polls the queue, instead of the process. Sent to the process, the kernel hands the signal
 * to a thread of its choosing, often the supervisor's sleeping main thread; on the development VM
 * waking that thread took ~2 ms after 300 ms without traffic, and a busy-polling worker could not
 * read the packet until then (bench/latency.js, busy-polling, pings every 300 ms: round trip p50
 * 2.0-2.3 -> 0.26-0.28 ms). A running worker gets it at once. Returns how many fds were
 * redirected, or negative errno.
 */
int dps_rx_signals_here(uint16_t qid, const uint16_t *ports, int n)
{
	struct f_owner_ex own = { .type = F_OWNER_TID, .pid = (pid_t)gettid() };
	int done = 0;

	for (int i = 0; i < n; ++i) {
		int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(ports[i], qid);
		int fl;

		if (fd < 0)
			continue;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || !(fl & O_ASYNC))
			continue;
		if (fcntl(fd, F_SETOWN_EX, &own) != 0)
			return -errno;
		++done;
	}
	return done;
}

/*
 * Idle sleep of a worker thread: an epoll set of the rx interrupt fds of the queues it polls
 * (where the PMD has them) and an eventfd the supervisor writes to wake it for a command. A worker
 * that found nothing for a while sleeps here instead of spinning: a packet on an interrupt port
 * wakes it at once, ports without interrupts are polled again when the timeout ends.
 * DPS_IDLE_MAX_PORTS: interrupt ports one worker sleeps on (as many as it may poll).
 */
#define DPS_IDLE_MAX_PORTS 256
struct dps_idle {
	int epfd;
	int evfd;
	uint16_t queue;
	uint16_t n;                     /* ports with an interrupt fd */
	uint16_t port[DPS_IDLE_MAX_PORTS];
	uint8_t toggle[DPS_IDLE_MAX_PORTS];  /* the PMD wants rx_intr_enable/disable around a sleep */
	/*
	 * Interrupt fds that also raise a signal when readable (O_ASYNC, F_SETSIG: net_tap's queue
	 * fds, whose rx burst reads nothing until its signal handler has counted a signal): that
	 * signal goes to the worker (dps_rx_signals_here) or, if that failed, to whichever thread the
	 * kernel picks, which may not have run the handler when the fd wakes the worker (measured
	 * then: 5 to 25 wake-ups that found nothing to read per packet).
	 * A worker that such an fd woke raises the fd's signal in itself, so the handler has run
	 * before it polls (one wake-up per packet or fewer).
	 */
	uint16_t nasync;
	int async_sig[DPS_IDLE_MAX_PORTS];
	uint16_t async_port[DPS_IDLE_MAX_PORTS];
};

static __thread struct dps_idle *idle;

static void idle_release(void)
{
	if (!idle)
		return;
	close(idle->epfd);
	close(idle->evfd);
	free(idle);
	idle = NULL;
}

/*
 * Sets up the calling worker's idle sleep for queue `qid` of `ports[0..n)`. Returns the eventfd
 * that wakes it (dps_idle_wake) and writes to *intr how many of the ports have rx interrupts;
 * negative errno on failure.
 */
int dps_idle_setup(uint16_t qid, const uint16_t *ports, int n, int32_t *intr)
{
	struct epoll_event ev = { .events = EPOLLIN };

	idle_release();
	idle = calloc(1, sizeof(*idle));
	if (!idle)
		return -ENOMEM;
	idle->queue = qid;
	idle->epfd = epoll_create1(EPOLL_CLOEXEC);
	idle->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev.data.u32 = UINT32_MAX;
	if (idle->epfd < 0 || idle->evfd < 0 || epoll_ctl(idle->epfd, EPOLL_CTL_ADD, idle->evfd, &ev) != 0) {
		int err = errno;

		idle_release();     /* closes what was opened (close(-1) only fails) */
		return -err;
	}
	for (int i = 0; i < n && idle->n < DPS_IDLE_MAX_PORTS; ++i) {
		int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(ports[i], qid);
		int en, fl, sig;

		if (fd < 0)
			continue;
		ev.data.u32 = ports[i];
		if (epoll_ctl(idle->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			continue;
		en = rte_eth_dev_rx_intr_enable(ports[i], qid);
		if (en == 0)
			rte_eth_dev_rx_intr_disable(ports[i], qid);
		idle->toggle[idle->n] = en == 0;
		idle->port[idle->n++] = ports[i];
		fl = fcntl(fd, F_GETFL);
		sig = fcntl(fd, F_GETSIG);
		if (fl >= 0 && (fl & O_ASYNC) && sig > 0) {
			idle->async_sig[idle->nasync] = sig;
			idle->async_port[idle->nasync++] = ports[i];
		}
	}
	*intr = idle->n;
	return idle->evfd;
}

/*
 * Sleeps until a packet arrives on an interrupt port, the supervisor wakes the worker, or
 * `timeout_us` passed. Returns the number of interrupt ports that had packets (0: timeout or a
 * wake-up), or negative errno.
 */
int dps_idle_wait(int timeout_us)
{
	struct epoll_event ev[8];
	struct timespec ts = { .tv_sec = timeout_us / 1000000, .tv_nsec = (long)(timeout_us % 1000000) * 1000 };
	uint64_t v;
	int r, rx = 0;

	if (!idle)
		return -ENOENT;
	for (uint16_t i = 0; i < idle->n; ++i)
		if (idle->toggle[i])
			rte_eth_dev_rx_intr_enable(idle->port[i], idle->queue);
	r = epoll_pwait2(idle->epfd, ev, 8, &ts, NULL);
	if (r < 0)
		r = -errno;
	for (uint16_t i = 0; i < idle->n; ++i)
		if (idle->toggle[i])
			rte_eth_dev_rx_intr_disable(idle->port[i], idle->queue);
	for (int i = 0; i < r; ++i) {
		if (ev[i].data.u32 == UINT32_MAX)
			(void)!read(idle->evfd, &v, sizeof(v));
		else {
			rx++;
			for (uint16_t j = 0; j < idle->nasync; ++j)
				if (idle->async_port[j] == ev[i].data.u32)
					pthread_kill(pthread_self(), idle->async_sig[j]);
		}
	}
	return r < 0 ? (r == -EINTR ? 0 : r) : rx;
}

/* Wakes a worker sleeping in dps_idle_wait (its eventfd, from dps_idle_setup). */
int dps_idle_wake(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int dps_port_stop(uint16_t port)
{
	return rte_eth_dev_stop(port);
}

int dps_port_close(uint16_t port)
{
	return rte_eth_dev_close(port);
}

int dps_port_mac(uint16_t port, uint8_t *out)
{
	struct rte_ether_addr mac;
	int ret = rte_eth_macaddr_get(port, &mac);

	if (ret == 0)
		memcpy(out, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	return ret;
}

/* out: [0] link up, [1] speed Mbit/s, [2] full duplex */
int dps_port_link(uint16_t port, uint32_t *out)
{
	struct rte_eth_link link;
	int ret = rte_eth_link_get_nowait(port, &link);

	if (ret != 0)
		return ret;
	out[0] = link.link_status;
	out[1] = link.link_speed;
	out[2] = link.link_duplex;
	return 0;
}

/*
 * Extended stats of a port, as /ethdev/xstats lists them: up to max entries, the name of entry i
 * NUL-terminated at names + i * RTE_ETH_XSTATS_NAME_SIZE and its value at values[i]. Returns the
 * number of entries written, with max 0 the number the port has, or a negative errno.
 */
int dps_port_xstats(uint16_t port, char *names, uint64_t *values, int max)
{
	int n = rte_eth_xstats_get_names(port, NULL, 0);
	struct rte_eth_xstat_name *xn;
	struct rte_eth_xstat *xv;
	int got, i;

	if (n <= 0 || max <= 0)
		return n;
	xn = calloc(n, sizeof(*xn));
	xv = calloc(n, sizeof(*xv));
	if (xn == NULL || xv == NULL) {
		free(xn);
		free(xv);
		return -ENOMEM;
	}
	got = rte_eth_xstats_get_names(port, xn, n);
	if (got == n)
		got = rte_eth_xstats_get(port, xv, n);
	if (got != n) {
		free(xn);
		free(xv);
		return got < 0 ? got : -EAGAIN;
	}
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		uint64_t id = xv[i].id < (uint64_t)got ? xv[i].id : (uint64_t)i;

		snprintf(names + (size_t)i * RTE_ETH_XSTATS_NAME_SIZE, RTE_ETH_XSTATS_NAME_SIZE, "%s", xn[id].name);
		values[i] = xv[i].value;
	}
	free(xn);
	free(xv);
	return n;
}

/* Number of NUMA sockets: the malloc heaps dps_heap_stats reports. */
int dps_socket_count(void)
{
	return (int)rte_socket_count();
}

/*
 * The malloc heap of the socket with index idx, as /eal/heap_info reports a heap: total, free and
 * allocated bytes, the greatest free block, allocation and free-block counts (out[0..5]).
 */
int dps_heap_stats(int idx, uint64_t *out)
{
	struct rte_malloc_socket_stats st;
	int sock = rte_socket_id_by_idx((unsigned int)idx);

	if (sock < 0 || rte_malloc_get_socket_stats(sock, &st) != 0)
		return -EINVAL;
	out[0] = st.heap_totalsz_bytes;
	out[1] = st.heap_freesz_bytes;
	out[2] = st.heap_allocsz_bytes;
	out[3] = st.greatest_free_size;
	out[4] = st.alloc_count;
	out[5] = st.free_count;
	return 0;
}

/* Register the calling thread with DPDK (mempool cache, lcore id) and pin it to one CPU. */
int dps_thread_register(int cpu)
{
	cpu_set_t set;
	int ret = rte_thread_register();

	if (ret != 0)
		return -rte_errno;
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret != 0)
			return -ret;
	}
	return (int)rte_lcore_id();
}

static void io_area_release(void);

void dps_thread_unregister(void)
{
	io_area_release();
	idle_release();
	rte_thread_unregister();
}

/*
 * The io area: one per worker thread, allocated by the shim and viewed by JS (koffi.view), so the
 * hot call takes integers only. It carries one iteration's descriptors both ways: what JS hands to
 * tx and to free, and what rx found. Packets are described by the arrays here, not by the mbuf
 * headers: a PMD's rx has just written those headers, and reading or writing them again right
 * away stalls on the stores in flight (measured: ~7 ns per packet for the port and length stores
 * that the earlier per-call rx/tx made, ~4 ns for a nb_segs read). Layout (DPS_MAX_BURST = N):
 *
 *   rx_off u32[N], rx_start u32[N], rx_len u16[N], rx_port u16[N],
 *   tx_off u32[N], tx_start u32[N], tx_len u16[N], tx_port u16[N], tx_set u8[N],
 *   free_off u32[N], poll_port u16[DPS_MAX_POLL], result u32[4], args i32[8], tx_encap u32[N]
 *
 * Offsets are mbuf offsets from the pool base; starts are frame starts from the pool base.
 */
/* Ports one worker polls: every port the service can have (2 PFs + upstream's 126 VFs fit). */
#define DPS_MAX_POLL 256
/* Encapsulation headers io_encap keeps composed (a power of two). */
#define DPS_ENCAP_WAYS 16

struct dps_io_area {
	uint32_t rx_off[DPS_MAX_BURST];
	uint32_t rx_start[DPS_MAX_BURST];
	uint16_t rx_len[DPS_MAX_BURST];
	uint16_t rx_port[DPS_MAX_BURST];
	uint32_t tx_off[DPS_MAX_BURST];
	uint32_t tx_start[DPS_MAX_BURST];
	uint16_t tx_len[DPS_MAX_BURST];
	uint16_t tx_port[DPS_MAX_BURST];
	uint8_t tx_set[DPS_MAX_BURST];
	uint32_t free_off[DPS_MAX_BURST];
	uint16_t poll_port[DPS_MAX_POLL];
	/* [0] sent by the last call, [1] not sent (freed) by the last call */
	uint32_t result[4];
	/* dps_io_args's arguments, written by JS before the call: qid, ntx, nfree, npoll, per_port, max */
	int32_t args[8];
	/* where tx_set is DPS_TX_ENCAP4 or DPS_TX_ENCAP6: route reference << 8 | the VM's port (see io_encap) */
	uint32_t tx_encap[DPS_MAX_BURST];
	/*
	 * The shim's own per-thread scratch, not part of the layout JS reads: kept here rather than in
	 * __thread variables, whose every access from a shared library is a __tls_get_addr call
	 * (rx -> tx floor 32.0 -> 28.2 ns). Where the next dps_io starts polling (an index into
	 * poll_port), tx grouping by port, mbuf pointers for rx, tx and free.
	 */
	uint16_t poll_first;
	/* dps_prefetch_setup: the flow index, its bucket mask, each port's [active VM port, VNI] */
	const int32_t *pf_idx;
	uint32_t pf_mask;
	uint32_t pf_bucket_words;
	uint32_t pf_nports;
	const int32_t *pf_port;
	/* dps_encap_setup: the tables io_encap reads (see there) */
	const uint8_t *en_port_words;
	const uint8_t *en_port_bytes;
	const uint8_t *en_fields[2];
	uint32_t en_records[2];
	uint32_t en_nports;
	uint32_t en_word_stride;
	uint32_t en_byte_stride;
	uint32_t en_mac;
	uint32_t en_own;
	uint32_t en_underlay;
	uint32_t en_field_stride;
	uint32_t en_nexthop;
	const int32_t *en_generation;
	const int32_t *en_port_epoch;
	/*
	 * io_encap's composed headers: DPS_ENCAP_WAYS templates, each with its way (out << 33 |
	 * ref_port << 1 | v6) and the tables' epoch it was composed in (en_epoch: the configuration
	 * generation << 32 | the port table's epoch word, read once per io_tx; never 0)
	 */
	uint64_t en_epoch;
	uint64_t en_made[DPS_ENCAP_WAYS];
	uint64_t en_key[DPS_ENCAP_WAYS];
	uint8_t en_tpl[DPS_ENCAP_WAYS][64] __rte_aligned(64);
	uint16_t count[RTE_MAX_ETHPORTS + 1];
	uint16_t first[RTE_MAX_ETHPORTS + 1];
	struct rte_mbuf *sorted[DPS_MAX_BURST];
	struct rte_mbuf *bufs[DPS_MAX_BURST];
};

static __thread struct dps_io_area *io_area;

/* The calling thread's io area (created on first use); NULL if out of memory. */
void *dps_io_area(void)
{
	if (!io_area)
		io_area = rte_zmalloc("dps_io", sizeof(*io_area), RTE_CACHE_LINE_SIZE);
	return io_area;
}

static void io_area_release(void)
{
	rte_free(io_area);
	io_area = NULL;
}

/* out: [0] area size, then the offsets of rx_off, rx_start, rx_len, rx_port, tx_off, tx_start,
 *      tx_len, tx_port, tx_set, free_off, poll_port, result; [13] DPS_MAX_BURST, [14] DPS_MAX_POLL,
 *      [15] the offset of args, [16] of tx_encap */
int dps_io_layout(uint32_t *out)
{
	out[0] = sizeof(struct dps_io_area);
	out[1] = offsetof(struct dps_io_area, rx_off);
	out[2] = offsetof(struct dps_io_area, rx_start);
	out[3] = offsetof(struct dps_io_area, rx_len);
	out[4] = offsetof(struct dps_io_area, rx_port);
	out[5] = offsetof(struct dps_io_area, tx_off);
	out[6] = offsetof(struct dps_io_area, tx_start);
	out[7] = offsetof(struct dps_io_area, tx_len);
	out[8] = offsetof(struct dps_io_area, tx_port);
	out[9] = offsetof(struct dps_io_area, tx_set);
	out[10] = offsetof(struct dps_io_area, free_off);
	out[11] = offsetof(struct dps_io_area, poll_port);
	out[12] = offsetof(struct dps_io_area, result);
	out[13] = DPS_MAX_BURST;
	out[14] = DPS_MAX_POLL;
	out[15] = offsetof(struct dps_io_area, args);
	out[16] = offsetof(struct dps_io_area, tx_encap);
	return 0;
}

/*
 * The calling thread's encapsulation tables (see io_encap): the port table's words and bytes,
 * the IPv4 and IPv6 route tables' fields, the flow table's configuration generation, and where
 * each field lives:
 *   layout[0] ports, [1] words per port, [2] bytes per port, [3] the word of the first half of a
 *   port's peer MAC (the router's on an uplink; [3] + 1 the second), [4] the same of its own MAC,
 *   [5] the byte of its underlay address, [6] the table-wide word bumped after every change of
 *   them, [7] words per route, [8] the word of a route's nexthop, [9] IPv4 and [10] IPv6 route
 *   records.
 * The arrays are JS SharedArrayBuffers, which never move; the supervisor keeps them current and
 * bumps the generation after every route change, the port table's word after every address and
 * MAC change. port_words NULL turns it off (io_encap then writes nothing).
 */
int dps_encap_setup(const int32_t *port_words, const uint8_t *port_bytes, const int32_t *fields4,
		    const int32_t *fields6, const int32_t *generation, const uint32_t *layout)
{
	struct dps_io_area *a = dps_io_area();

	if (!a)
		return -ENOMEM;
	if (port_words && (!port_bytes || !fields4 || !fields6 || !generation || !layout || layout[0] == 0 ||
			   layout[3] + 1 >= layout[1] || layout[4] + 1 >= layout[1] || layout[5] + 16 > layout[2] ||
			   layout[6] < layout[0] * layout[1] || layout[8] + 4 > layout[7] || layout[9] == 0 || layout[10] == 0))
		return -EINVAL;
	a->en_port_words = (const uint8_t *)port_words;
	a->en_port_bytes = port_bytes;
	a->en_fields[0] = (const uint8_t *)fields4;
	a->en_fields[1] = (const uint8_t *)fields6;
	a->en_generation = generation;
	memset(a->en_made, 0, sizeof(a->en_made));
	if (!port_words)
		return 0;
	a->en_nports = layout[0];
	a->en_word_stride = layout[1] * 4;
	a->en_byte_stride = layout[2];
	a->en_mac = layout[3] * 4;
	a->en_own = layout[4] * 4;
	a->en_underlay = layout[5];
	a->en_port_epoch = port_words + layout[6];
	a->en_field_stride = layout[7] * 4;
	a->en_nexthop = layout[8] * 4;
	a->en_records[0] = layout[9];
	a->en_records[1] = layout[10];
	return 0;
}

/* Adds a run of `run` packets for `port` to count[], listing the port in used[] on its first run. */
static inline int count_run(uint16_t *count, uint16_t *used, int nused, uint16_t port, int run)
{
	if (count[port] == 0)
		used[nused++] = port;
	count[port] = (uint16_t)(count[port] + run);
	return nused;
}

/* tx_set: 1 the frame moved or changed length; 2 and 3 that, and io_encap writes its outer headers */
#define DPS_TX_ENCAP4 2
#define DPS_TX_ENCAP6 3

/*
 * The outer headers of an encapsulated frame going out of uplink `out` (the fast path's JS writer,
 * ipip-encap.ts writeUnderlay, writes the same): to the uplink's router from its own MAC, IPv6 with
 * hop limit 64, next header 4 (IPv4 inside) or 41 (v6), from the underlay address of the VM's port,
 * to the nexthop of the route that ref (record << 1 | IPv6 table) names; the payload length is the
 * one field left to fill. The worker hands over only `ref << 8 | port` per packet instead of
 * writing 54 bytes in JavaScript. Out-of-range references read the tables' record 0 and port 0,
 * where the JS writer's out-of-range reads would have made zeros (never produced: the fast path
 * takes them from its own tables).
 */
static void encap_compose(uint8_t *h, const struct dps_io_area *a, uint32_t out, uint32_t ref_port, int v6)
{
	uint32_t in = ref_port & 0xff;
	uint32_t t = (ref_port >> 8) & 1;
	uint32_t r = ref_port >> 9;

	if (out >= a->en_nports)
		out = 0;
	if (in >= a->en_nports)
		in = 0;
	if (r >= a->en_records[t])
		r = 0;
	const uint8_t *pw = a->en_port_words + (size_t)out * a->en_word_stride;
	/* the port table's MACs: the first two bytes in one word's low half, the last four in the next */
	uint16_t mac_hi = rte_cpu_to_be_16((uint16_t)*(const uint32_t *)(pw + a->en_mac));
	uint32_t mac_lo = rte_cpu_to_be_32(*(const uint32_t *)(pw + a->en_mac + 4));
	uint16_t own_hi = rte_cpu_to_be_16((uint16_t)*(const uint32_t *)(pw + a->en_own));
	uint32_t own_lo = rte_cpu_to_be_32(*(const uint32_t *)(pw + a->en_own + 4));
	uint16_t type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	/* version 6, traffic class and flow label 0, payload length (per packet), next header, hop limit 64 */
	uint8_t ip0[8] = { 0x60, 0, 0, 0, 0, 0, v6 ? IPPROTO_IPV6 : IPPROTO_IPIP, 64 };

	memcpy(h, &mac_hi, 2);
	memcpy(h + 2, &mac_lo, 4);
	memcpy(h + 6, &own_hi, 2);
	memcpy(h + 8, &own_lo, 4);
	memcpy(h + 12, &type, 2);
	memcpy(h + 14, ip0, 8);
	memcpy(h + 22, a->en_port_bytes + (size_t)in * a->en_byte_stride + a->en_underlay, 16);
	memcpy(h + 38, a->en_fields[t] + (size_t)r * a->en_field_stride + a->en_nexthop, 16);
}

/*
 * Writes the outer headers of an encapsulated frame of len bytes at h (encap_compose): a copy of
 * the headers composed for an earlier packet that went the same way while the tables stayed
 * unchanged, else composed anew into the way's slot (one of DPS_ENCAP_WAYS by the uplink, port and
 * route: a VM's traffic to up to 16 hosts keeps them all). Reading the tables for every packet, or
 * composing once per burst and way, costs more than the JavaScript writer it replaces when a burst
 * goes several ways (bench/RESULTS.md): the headers are composed again only when the epoch says the
 * tables changed. A copy is as current as the tables were when this burst's io call began; the
 * worker acknowledges a change only after that call.
 */
static inline void io_encap(struct dps_io_area *a, uint8_t *h, uint32_t out, uint32_t ref_port, uint32_t len, int v6)
{
	uint64_t key = (uint64_t)out << 33 | (uint64_t)ref_port << 1 | (v6 ? 1 : 0);
	/*
	 * the route record's low bits first: routes are taken in order, so one VM's ways to up to
	 * DPS_ENCAP_WAYS hosts through one uplink never share a slot
	 */
	uint32_t w = ((ref_port >> 9) ^ (ref_port & 0xff) ^ out * 5) & (DPS_ENCAP_WAYS - 1);
	uint16_t plen = rte_cpu_to_be_16((uint16_t)(len - 54));

	if (a->en_key[w] != key || a->en_made[w] != a->en_epoch) {
		encap_compose(a->en_tpl[w], a, out, ref_port, v6);
		a->en_key[w] = key;
		a->en_made[w] = a->en_epoch;
	}
	memcpy(h, a->en_tpl[w], 54);
	memcpy(h + 18, &plen, 2);
}

/*
 * Sends tx_off[0..ntx) on queue qid, each on its tx_port: packets are grouped by port (a counting
 * sort that keeps their order within a port) and each port gets one rte_eth_tx_burst, however the
 * graph interleaved them. Where tx_set is non-zero the frame moved or changed length
 * (encapsulation, a generated packet): data_off, data_len and pkt_len are written first, and for
 * DPS_TX_ENCAP4/6 the outer headers (io_encap).
 * Unsent packets are freed. Writes result[0] (sent) and result[1] (freed unsent).
 */
static void io_tx(struct dps_io_area *a, uint16_t qid, int ntx)
{
	uint16_t *count = a->count;
	uint16_t *first = a->first;
	struct rte_mbuf **tx_sorted = a->sorted;
	uint16_t used[RTE_MAX_ETHPORTS + 1];
	int nused = 0;
	uint32_t sent = 0, failed = 0;

	/*
	 * count per port (an unknown port is one more "port" whose packets are freed), in runs of one
	 * port: packets come in runs (rx polls port by port), and a count kept in a register avoids a
	 * store-to-load chain through count[] per packet (rx -> tx floor 28.2 -> 26.6 ns)
	 */
	uint16_t cur = DPS_NO_PORT;
	int run = 0;

	/* the tables' epoch for io_encap: acquire, so that what the writers stored before bumping it is seen */
	if (a->en_port_words)
		a->en_epoch = (uint64_t)(uint32_t)__atomic_load_n(a->en_generation, __ATOMIC_ACQUIRE) << 32 |
			      (uint32_t)__atomic_load_n(a->en_port_epoch, __ATOMIC_ACQUIRE) | (uint64_t)1 << 63;

	for (int i = 0; i < ntx; ++i) {
		uint16_t port = a->tx_port[i] < RTE_MAX_ETHPORTS ? a->tx_port[i] : RTE_MAX_ETHPORTS;

		if (port != cur) {
			if (run > 0)
				nused = count_run(count, used, nused, cur, run);
			cur = port;
			run = 0;
		}
		run++;
	}
	if (run > 0)
		nused = count_run(count, used, nused, cur, run);
	for (int u = 0, at = 0; u < nused; ++u) {
		first[used[u]] = (uint16_t)at;
		at += count[used[u]];
	}
	/* the same in runs: the next position of the current run's port stays in a register */
	cur = DPS_NO_PORT;
	int pos = 0;

	for (int i = 0; i < ntx; ++i) {
		uint16_t port = a->tx_port[i] < RTE_MAX_ETHPORTS ? a->tx_port[i] : RTE_MAX_ETHPORTS;
		struct rte_mbuf *m = mbuf_at(a->tx_off[i]);

		uint8_t set = a->tx_set[i];

		if (set) {
			uint32_t start = a->tx_start[i];
			uint16_t len = a->tx_len[i];

			if (set >= DPS_TX_ENCAP4 && a->en_port_words && len >= 54)
				io_encap(a, (uint8_t *)(dps_base + start), port, a->tx_encap[i], len, set == DPS_TX_ENCAP6);
			m->data_off = (uint16_t)(start - a->tx_off[i] - dps_shift);
			m->data_len = len;
			m->pkt_len = len;
		}
		if (port != cur) {
			if (cur != DPS_NO_PORT)
				first[cur] = (uint16_t)pos;
			cur = port;
			pos = first[port];
		}
		tx_sorted[pos++] = m;
	}
	for (int u = 0, at = 0; u < nused; ++u) {
		uint16_t port = used[u];
		uint16_t cnt = count[port];
		uint16_t done = port < RTE_MAX_ETHPORTS ? rte_eth_tx_burst(port, qid, &tx_sorted[at], cnt) : 0;

		sent += done;
		if (done < cnt) {
			rte_pktmbuf_free_bulk(&tx_sorted[at + done], (unsigned int)(cnt - done));
			failed += (uint32_t)(cnt - done);
		}
		count[port] = 0;
		at += cnt;
	}
	a->result[0] = sent;
	a->result[1] = failed;
}

/*
 * The fast path's IPv4 flow hash (flow-table.ts flowHashV4), on the key's words as JS reads them
 * (big-endian): the same multiplies side by side, then two more.
 */
uint32_t dps_flow_hash_v4(uint32_t vni, uint32_t ports, uint32_t proto, uint32_t src, uint32_t dst)
{
	uint32_t h = ((src ^ vni) * 0x9e3779b1u) ^ (dst * 0x85ebca6bu) ^ (ports * 0xc2b2ae35u) ^ (proto * 0x27d4eb2fu);
	uint32_t m = (h ^ (h >> 16)) * 0x165667b1u;

	m ^= m >> 13;
	return m ^ (m >> 16);
}

/*
 * The calling thread's flow prefetch (see prefetch_flows): `idx` the flow table's index (bucket b
 * at idx[b * bucket_words]), `mask` its bucket mask; `port` two words of switch (port[0] non-zero:
 * prefetch), then two per port p from port[2 * p + 2], [0] non-zero for an active VM port and [1]
 * its VNI, for ports [0, nports). The arrays are JS SharedArrayBuffers, which never move; JS keeps
 * the words current. idx NULL turns it off; with idx, port must be given.
 */
int dps_prefetch_setup(const int32_t *idx, uint32_t mask, uint32_t bucket_words, const int32_t *port, uint32_t nports)
{
	struct dps_io_area *a = dps_io_area();

	if (!a)
		return -ENOMEM;
	if (idx && !port)
		return -EINVAL;
	a->pf_idx = idx;
	a->pf_mask = mask;
	a->pf_bucket_words = bucket_words;
	a->pf_port = port;
	a->pf_nports = nports;
	return 0;
}

/*
 * Prefetches the flow index bucket of each received IPv4 TCP or UDP packet from a VM port: the
 * worker's fast path reads that line for every packet, and at 100,000 flows it is a cache miss its
 * JavaScript can only wait for (JS has no prefetch, and a load issued early still holds the core's
 * instruction window). A prefetch does not: these lines arrive while the worker parses the burst.
 * A hint only: the worker hashes and looks up each packet itself.
 */
static void prefetch_flows(const struct dps_io_area *a, int n)
{
	const int32_t *idx = a->pf_idx;
	const int32_t *ports = a->pf_port + 2;

	if (a->pf_port[0] == 0)
		return;
	for (int i = 0; i < n; ++i) {
		uint16_t port = a->rx_port[i];

		if (port >= a->pf_nports || ports[2 * port] == 0 || a->rx_len[i] < 14 + 20 + 4)
			continue;
		const uint8_t *f = (const uint8_t *)(dps_base + a->rx_start[i]);
		const uint8_t *ip = f + 14;

		if (f[12] != 0x08 || f[13] != 0x00 || ip[0] != 0x45 || (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP))
			continue;
		uint32_t h = dps_flow_hash_v4((uint32_t)ports[2 * port + 1], rte_be_to_cpu_32(*(const unaligned_uint32_t *)(ip + 20)),
					      ip[9], rte_be_to_cpu_32(*(const unaligned_uint32_t *)(ip + 12)),
					      rte_be_to_cpu_32(*(const unaligned_uint32_t *)(ip + 16)));

		rte_prefetch0(idx + (size_t)(h & a->pf_mask) * a->pf_bucket_words);
	}
}

/*
 * The one crossing per worker iteration: transmits the ntx packets and frees the nfree packets JS
 * put in the io area, then polls queue qid of the first npoll ports of poll_port, up to per_port
 * packets each and max in total, and describes each received packet in rx_*. The port comes from
 * the poll list (net_ring does not set mbuf->port). A chained packet (never produced without
 * scatter, but a TAP PMD chains oversized frames) is freed, not reported. Returns the rx count.
 */
int dps_io(uint16_t qid, int ntx, int nfree, int npoll, int per_port, int max)
{
	struct dps_io_area *a = io_area;
	struct rte_mbuf **rx_bufs;
	int total = 0;

	if (unlikely(!a))
		return -ENOMEM;
	rx_bufs = a->bufs;
	if (ntx > 0)
		io_tx(a, qid, ntx < DPS_MAX_BURST ? ntx : DPS_MAX_BURST);
	else
		a->result[0] = a->result[1] = 0;
	if (nfree > 0) {
		if (nfree > DPS_MAX_BURST)
			nfree = DPS_MAX_BURST;
		for (int i = 0; i < nfree; ++i)
			rx_bufs[i] = mbuf_at(a->free_off[i]);
		rte_pktmbuf_free_bulk(rx_bufs, (unsigned int)nfree);
	}
	if (max > DPS_MAX_BURST)
		max = DPS_MAX_BURST;
	if (npoll > DPS_MAX_POLL)
		npoll = DPS_MAX_POLL;
	/* the first port polled rotates, so when max cuts a poll short no port is always the one left out */
	int first = a->poll_first < npoll ? a->poll_first : 0;

	for (int k = 0; k < npoll && total < max; ++k) {
		int p = first + k < npoll ? first + k : first + k - npoll;
		uint16_t port = a->poll_port[p];
		int want = max - total < per_port ? max - total : per_port;
		uint16_t n = rte_eth_rx_burst(port, qid, rx_bufs, (uint16_t)want);

		for (uint16_t i = 0; i < n; ++i) {
			struct rte_mbuf *m = rx_bufs[i];

			if (unlikely(m->pkt_len != m->data_len)) {
				rte_pktmbuf_free(m);
				continue;
			}
			a->rx_off[total] = mbuf_off(m);
			a->rx_start[total] = mbuf_off(m) + dps_shift + m->data_off;
			a->rx_len[total] = m->data_len;
			a->rx_port[total] = port;
			total++;
		}
	}
	a->poll_first = (uint16_t)(first + 1 < npoll ? first + 1 : 0);
	if (a->pf_idx)
		prefetch_flows(a, total);
	return total;
}

/*
 * dps_io with its arguments in the calling thread's io area (args: qid, ntx, nfree, npoll,
 * per_port, max): koffi converts each argument of a call, ~7 ns apiece here (a call with six ints
 * 51 ns, with none 16 ns), and the worker makes this call every iteration.
 */
int dps_io_args(void)
{
	struct dps_io_area *a = io_area;

	if (unlikely(!a))
		return -ENOMEM;
	return dps_io((uint16_t)a->args[0], a->args[1], a->args[2], a->args[3], a->args[4], a->args[5]);
}

int dps_free_mbufs(const uint32_t *offs, int n)
{
	for (int i = 0; i < n; ++i)
		rte_pktmbuf_free(mbuf_at(offs[i]));
	return n;
}

/* Allocates n fresh mbufs (all or nothing) and writes their offsets; data_off is the headroom. */
int dps_alloc_mbufs(uint32_t *offs, int n)
{
	if (n > DPS_MAX_BURST)
		n = DPS_MAX_BURST;
	if (rte_pktmbuf_alloc_bulk(dps_pool, alloc_bufs, (unsigned int)n) != 0)
		return 0;
	for (int i = 0; i < n; ++i)
		offs[i] = mbuf_off(alloc_bufs[i]);
	return n;
}

/*
 * Telemetry commands of our own (upstream's /dp_service/... ones) on DPDK's telemetry socket. The
 * socket's thread answers from the last snapshot the supervisor published for the command
 * (dps_telemetry_publish), so it never calls into JS. A snapshot is text, one entry per line:
 * "key\tvalue" (a number at the top level) or "key\tsubkey\tvalue" (a number in the dictionary
 * `key`; lines of one dictionary are consecutive). Keys of more than RTE_TEL_MAX_STRING_LEN - 1
 * bytes and dictionaries of more than RTE_TEL_MAX_DICT_ENTRIES entries are cut (DPDK's limits).
 */
#define DPS_TEL_MAX 16
struct dps_tel {
	char cmd[RTE_TEL_MAX_STRING_LEN];
	char *snap;                 /* NUL-terminated, malloc'd; NULL: none published yet */
	pthread_mutex_t lock;
};
static struct dps_tel tel[DPS_TEL_MAX];
static int ntel;
static pthread_mutex_t tel_reg_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * DPDK 22.11 accepts only [A-Za-z0-9_/] in dictionary keys; upstream's keys have more ("rx-0-0",
 * "UDP:1.2.3.4:5353"), and upstream patches its DPDK to allow them. Without patching DPDK, a key
 * it refuses is added with the refused characters as '_' and then renamed in place, in DPDK
 * 22.11's own layout of struct rte_tel_data (lib/telemetry/telemetry_data.h: type, count, then the
 * entries, each a name, a value type and a value union). The layout is checked on every use: the
 * count and the '_' name must be where it says, else the entry keeps the '_' name.
 */
struct tel_entry_layout {
	char name[RTE_TEL_MAX_STRING_LEN];
	int type;
	union {
		char s[RTE_TEL_MAX_STRING_LEN];
		int i;
		uint64_t u;
		struct { void *data; int keep; } c;
	} v;
};
struct tel_data_layout {
	int type;
	unsigned int count;
	struct tel_entry_layout dict[RTE_TEL_MAX_DICT_ENTRIES];
};

/* Adds a u64 (child NULL) or a dictionary (child, then owned by d) under `key`; 0 or negative errno. */
static int tel_add(struct rte_tel_data *d, const char *key, uint64_t v, struct rte_tel_data *child)
{
	struct tel_data_layout *l = (struct tel_data_layout *)d;
	char safe[RTE_TEL_MAX_STRING_LEN];
	unsigned int before = l->count;
	int r;

	r = child ? rte_tel_data_add_dict_container(d, key, child, 0) : rte_tel_data_add_dict_u64(d, key, v);
	if (r != -EINVAL)
		return r;
	snprintf(safe, sizeof(safe), "%s", key);
	for (char *c = safe; *c; ++c)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_' || *c == '/'))
			*c = '_';
	r = child ? rte_tel_data_add_dict_container(d, safe, child, 0) : rte_tel_data_add_dict_u64(d, safe, v);
	if (r != 0)
		return r;
	if (before < RTE_TEL_MAX_DICT_ENTRIES && l->count == before + 1 && strcmp(l->dict[before].name, safe) == 0)
		snprintf(l->dict[before].name, RTE_TEL_MAX_STRING_LEN, "%s", key);
	return 0;
}

/* Adds the numbers of `line` ("key\tvalue" or "key\tsub\tvalue") to d, or to the open child. */
static void tel_line(struct rte_tel_data *d, char *line, struct rte_tel_data **child, char *child_key)
{
	char *f[3];
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, "\t", &save); t && n < 3; t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n < 2)
		return;
	/* a dictionary ends where the next line names another one (or none) */
	if (*child && (n == 2 || strcmp(child_key, f[0]) != 0)) {
		if (tel_add(d, child_key, 0, *child) != 0)
			rte_tel_data_free(*child);
		*child = NULL;
	}
	if (n == 2) {
		tel_add(d, f[0], strtoull(f[1], NULL, 10), NULL);
		return;
	}
	if (!*child) {
		*child = rte_tel_data_alloc();
		if (!*child)
			return;
		rte_tel_data_start_dict(*child);
		snprintf(child_key, RTE_TEL_MAX_STRING_LEN, "%s", f[0]);
	}
	tel_add(*child, f[1], strtoull(f[2], NULL, 10), NULL);
}

static int tel_cb(const char *cmd, const char *params __rte_unused, struct rte_tel_data *d)
{
	struct rte_tel_data *child = NULL;
	char child_key[RTE_TEL_MAX_STRING_LEN];
	char *copy = NULL;

	for (int i = 0; i < ntel; ++i) {
		if (strcmp(tel[i].cmd, cmd) != 0)
			continue;
		pthread_mutex_lock(&tel[i].lock);
		copy = tel[i].snap ? strdup(tel[i].snap) : NULL;
		pthread_mutex_unlock(&tel[i].lock);
		break;
	}
	rte_tel_data_start_dict(d);
	if (!copy)
		return 0;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		tel_line(d, line, &child, child_key);
	if (child && tel_add(d, child_key, 0, child) != 0)
		rte_tel_data_free(child);
	free(copy);
	return 0;
}

/* Registers telemetry command `cmd` (after EAL init). Returns its handle, or negative errno. */
int dps_telemetry_register(const char *cmd, const char *help)
{
	int h, r;

	if (strlen(cmd) >= RTE_TEL_MAX_STRING_LEN)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&tel_reg_lock);
	if (ntel >= DPS_TEL_MAX) {
		pthread_mutex_unlock(&tel_reg_lock);
		return -ENOSPC;
	}
	h = ntel;
	snprintf(tel[h].cmd, sizeof(tel[h].cmd), "%s", cmd);
	tel[h].snap = NULL;
	pthread_mutex_init(&tel[h].lock, NULL);
	r = rte_telemetry_register_cmd(tel[h].cmd, tel_cb, help);
	if (r == 0)
		ntel = h + 1;    /* visible to tel_cb only once complete */
	pthread_mutex_unlock(&tel_reg_lock);
	return r == 0 ? h : (r < 0 ? r : -r);
}

/* Replaces the snapshot of command handle `h` with `snap` (see above). Returns 0 or negative errno. */
int dps_telemetry_publish(int h, const char *snap)
{
	char *copy;
	char *old;

	if (h < 0 || h >= ntel)
		return -EINVAL;
	copy = strdup(snap);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&tel[h].lock);
	old = tel[h].snap;
	tel[h].snap = copy;
	pthread_mutex_unlock(&tel[h].lock);
	free(old);
	return 0;
}
