"""A DNS stub for tests: answers every A query on 127.0.0.1 (UDP) after a delay, with an
address derived from the name (hostN.test -> 10.0.0.N), without making other queries wait.
Prints port=N once it listens. Usage: dns_stub.py [DELAY_SECONDS]"""
import asyncio
import struct
import sys

DELAY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2


def answer(query: bytes) -> bytes:
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    i = 12
    labels = []
    while query[i]:
        n = query[i]
        labels.append(query[i + 1:i + 1 + n].decode())
        i += 1 + n
    qend = i + 5
    qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
    name = ".".join(labels)
    digits = "".join(c for c in labels[0] if c.isdigit()) if labels else ""
    header = struct.pack(">HHHHHH", qid, 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
    out = header + query[12:qend]
    if qtype == 1:
        last = int(digits) % 250 + 1 if digits else 1
        out += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([10, 0, 0, last])
    return out


class Stub(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.get_running_loop().call_later(DELAY, self.transport.sendto, answer(data), addr)


async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Stub, local_addr=("127.0.0.1", 0))
    print(f"port={transport.get_extra_info('sockname')[1]}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
