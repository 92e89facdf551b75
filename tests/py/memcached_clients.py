#!/usr/bin/env python3
"""200 concurrent memcached clients, 50 set/get pairs each, every value checked. Usage: PORT"""
import socket, threading, sys
port=int(sys.argv[1]); ok=0; lock=threading.Lock()
def client(i):
    global ok
    try:
        s=socket.create_connection(("127.0.0.1",port)); f=s.makefile("rwb")
        for k in range(50):
            v=("val%d_%d"%(i,k)).encode()
            f.write(b"set k%d_%d 0 0 %d\r\n%s\r\n"%(i,k,len(v),v)); f.flush()
            assert f.readline()==b"STORED\r\n"
            f.write(b"get k%d_%d\r\n"%(i,k)); f.flush()
            l=f.readline(); d=f.readline(); e=f.readline()
            assert d.strip()==v and e==b"END\r\n"
        with lock: ok+=1
    except Exception as e:
        print("client", i, "failed:", e)
ts=[threading.Thread(target=client,args=(i,)) for i in range(200)]
[t.start() for t in ts]; [t.join() for t in ts]
print("memcached clients ok", ok)
