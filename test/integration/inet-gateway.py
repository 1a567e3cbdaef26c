#!/usr/bin/env python3
"""The internet side of the NAT integration test: an IPv4-in-IPv6 tunnel endpoint in user space.

This machine's kernel has no ip6tnl, so the router namespace runs this instead: IPv6 packets with
next header 4 (IPv4) addressed to the namespace are decapsulated into the TUN device NAME, where the
namespace's IPv4 stack (a server at a public address) answers them; IPv4 packets the stack routes
into NAME are sent back encapsulated to the underlay address its destination maps to.

  inet-gateway.py NAME IPV4=UNDERLAY [IPV4=UNDERLAY ...]

Prints "ready" once the TUN device exists, then one line per packet relayed ("in SRC DST", "out SRC
DST", "drop DST"). Runs until killed.
"""
import fcntl
import os
import select
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4


def main() -> None:
    name = sys.argv[1]
    routes = {}
    for spec in sys.argv[2:]:
        ip, ul = spec.split('=', 1)
        routes[socket.inet_aton(ip)] = ul
    tun = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    # a raw IPv6 socket of protocol 4 receives the payload (the inner IPv4 packet) of every such
    # packet to this namespace, and sends what it is given inside an IPv6 header of protocol 4
    raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_IPIP)
    print('ready', flush=True)
    while True:
        ready, _, _ = select.select([tun, raw], [], [])
        if raw in ready:
            pkt = raw.recv(65535)
            if len(pkt) >= 20 and pkt[0] >> 4 == 4:
                os.write(tun, pkt)
                print('in', socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), flush=True)
        if tun in ready:
            pkt = os.read(tun, 65535)
            if len(pkt) < 20 or pkt[0] >> 4 != 4:
                continue
            ul = routes.get(pkt[16:20])
            if ul is None:
                print('drop', socket.inet_ntoa(pkt[16:20]), flush=True)
                continue
            raw.sendto(pkt, (ul, 0))
            print('out', socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), flush=True)


if __name__ == '__main__':
    main()
