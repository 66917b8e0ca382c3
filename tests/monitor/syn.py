#!/usr/bin/env python3
"""syn.py SRC DST SPORT DPORT...: send exactly one TCP SYN per DPORT from
SRC:SPORT to DST (IPv4, raw socket: no retransmissions, so a test knows
how many packets went out)."""
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    src, dst, sport = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    sock.bind((src, 0))
    for i, dport in enumerate(int(p) for p in sys.argv[4:]):
        hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
        hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
        sock.sendto(hdr, (dst, 0))


main()
