/*
 * The floor under the packet path without JavaScript: the shim's dps_io in a C loop that sends
 * every received packet out of the other port, frame untouched, on the same net_null vdevs, EAL
 * memory and burst as bench/rxtx-floor.ts (which starts this and prints both). Against testpmd
 * (bench/forward.ts) it is the cost of the io area and the shim; against rxtx-floor, the cost of
 * the JS loop and the koffi crossing.
 *
 *   build/native/shim-floor [seconds] [burst]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int dps_eal_init(int argc, const char **argv);
int dps_eal_cleanup(void);
int dps_pool_create(uint32_t nb, uint32_t cache, uint32_t room);
int dps_port_setup(uint16_t port, uint16_t q, uint16_t rxd, uint16_t txd);
int dps_port_stop(uint16_t port);
int dps_port_close(uint16_t port);
int dps_thread_register(int cpu);
int dps_lcore_cpu(int lcore);
void *dps_io_area(void);
int dps_io_layout(uint32_t *out);
int dps_io(uint16_t qid, int ntx, int nfree, int npoll, int per_port, int max);

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 4;
	int burst = argc > 2 ? atoi(argv[2]) : 32;
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "--file-prefix=shimfloor%d", (int)getpid());
	const char *eal[] = { "shim-floor", "-l", "0,1", "--no-huge", "-m", "1024", "--no-pci", prefix,
			      "--log-level=lib.*:error", "--vdev=net_null0,size=64", "--vdev=net_null1,size=64" };

	if (dps_eal_init(sizeof(eal) / sizeof(eal[0]), eal) < 0 || dps_pool_create(16383, 256, 2048) < 0)
		return 1;
	for (int p = 0; p < 2; p++)
		if (dps_port_setup((uint16_t)p, 1, 1024, 1024) < 0)
			return 1;
	/* this (the EAL main) thread, pinned where rxtx-floor's worker runs */
	dps_thread_register(dps_lcore_cpu(1));

	uint8_t *a = dps_io_area();
	uint32_t o[16];

	if (!a || dps_io_layout(o) < 0)
		return 1;
	uint32_t *rx_off = (uint32_t *)(a + o[1]);
	uint16_t *rx_port = (uint16_t *)(a + o[4]);
	uint32_t *tx_off = (uint32_t *)(a + o[5]);
	uint16_t *tx_port = (uint16_t *)(a + o[8]);
	uint8_t *tx_set = a + o[9];
	uint16_t *poll = (uint16_t *)(a + o[11]);
	uint64_t packets = 0;
	int ntx = 0;

	poll[0] = 0;
	poll[1] = 1;
	double t0 = now_s(), end = t0 + seconds, t1 = t0;

	for (uint64_t iter = 1;; iter++) {
		int n = dps_io(0, ntx, 0, 2, burst, 1024);

		for (int i = 0; i < n; i++) {
			tx_off[i] = rx_off[i];
			tx_port[i] = rx_port[i] == 0 ? 1 : 0;
			tx_set[i] = 0;
		}
		ntx = n > 0 ? n : 0;
		packets += (uint64_t)ntx;
		if ((iter & 1023) == 0 && (t1 = now_s()) >= end)
			break;
	}
	dps_io(0, ntx, 0, 0, burst, 0);
	printf("C rx->tx floor    burst=%d  %.2f Mpps  %.1f ns/packet\n", burst, (double)packets / (t1 - t0) / 1e6,
	       (t1 - t0) * 1e9 / (double)packets);
	for (int p = 0; p < 2; p++) {
		dps_port_stop((uint16_t)p);
		dps_port_close((uint16_t)p);
	}
	dps_eal_cleanup();
	return 0;
}
