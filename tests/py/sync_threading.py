# CPython threading under greenshim: the GIL is a mutex + condvar, Lock/Semaphore are sem_t,
# time.sleep releases the GIL. Workers exchange work through Queue, Condition, Event and
# Semaphore and sleep; the output is deterministic and must match the native run.
import queue
import threading
import time

N = 8
results = queue.Queue()
work = queue.Queue()
lock = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
start = threading.Event()
limit = threading.BoundedSemaphore(3)
local = threading.local()
counter = 0
inside = 0
max_inside = 0
ready = 0
os_threads = 0


def count_os_threads():
    with open("/proc/self/status") as f:
        return int([l for l in f if l.startswith("Threads:")][0].split()[1])


def worker(i):
    global counter, inside, max_inside, ready, os_threads
    local.name = f"w{i}"
    with cond:
        ready += 1
        cond.notify_all()
    start.wait()
    while True:
        item = work.get()
        if item is None:
            work.task_done()
            break
        with limit:
            with lock:
                inside += 1
                max_inside = max(max_inside, inside)
            time.sleep(0.001)
            with lock:
                inside -= 1
        with rlock:
            with rlock:
                counter += item
                os_threads = max(os_threads, count_os_threads())
        results.put((item, local.name == f"w{i}"))
        work.task_done()


threads = [threading.Thread(target=worker, args=(i,), name=f"w{i}") for i in range(N)]
for t in threads:
    t.start()
with cond:
    ok = cond.wait_for(lambda: ready == N, timeout=10)
print("all ready:", ok)
for item in range(1, 201):
    work.put(item)
for _ in range(N):
    work.put(None)
start.set()
work.join()
for t in threads:
    t.join(timeout=10)
got = sorted(results.get() for _ in range(200))
print("items:", len(got), "sum:", sum(i for i, _ in got), "local ok:", all(ok for _, ok in got))
print("counter:", counter)
print("max concurrently inside the semaphore <= 3:", max_inside <= 3, "and > 1:", max_inside > 1)
t0 = time.monotonic()
timed_out = not threading.Event().wait(0.05)
print("event wait timed out:", timed_out, "on time:", 0.045 < time.monotonic() - t0 < 0.5)
t0 = time.monotonic()
acquired = lock.acquire(timeout=0.05) and lock.acquire(timeout=0.05)
print("lock timeout:", not acquired, "on time:", 0.045 < time.monotonic() - t0 < 0.5)
print("alive:", sum(t.is_alive() for t in threads))
print("os threads while working:", os_threads)
