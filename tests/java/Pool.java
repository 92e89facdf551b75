// An ExecutorService of 8 threads runs 100 tasks that compute, sleep and synchronise
// (synchronized, wait/notify, CountDownLatch, ConcurrentHashMap, AtomicLong, Future); stdout is
// the same whatever order the tasks ran in. stderr gets the OS thread count (not compared).
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

public class Pool {
    static final Object lock = new Object();
    static long syncSum = 0;

    public static void main(String[] args) throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(8);
        ConcurrentHashMap<Integer, Long> map = new ConcurrentHashMap<>();
        CountDownLatch latch = new CountDownLatch(100);
        AtomicLong atomic = new AtomicLong();
        Set<String> names = ConcurrentHashMap.newKeySet();
        final Object gate = new Object();
        final boolean[] open = {false};
        List<Future<Long>> fs = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            final int n = i;
            fs.add(ex.submit(() -> {
                names.add(Thread.currentThread().getName());
                long h = n;
                for (int k = 0; k < 20000; k++) h = h * 6364136223846793005L + 1442695040888963407L;
                Thread.sleep(n % 7);
                synchronized (lock) { syncSum += n * n; }
                map.merge(n % 10, h & 0xffff, Long::sum);
                atomic.addAndGet(n);
                if (n < 8) { // the first 8 tasks wait (wait/notify) until main opens the gate
                    synchronized (gate) { while (!open[0]) gate.wait(); }
                }
                latch.countDown();
                return h;
            }));
        }
        Thread.sleep(50);
        synchronized (gate) { open[0] = true; gate.notifyAll(); }
        latch.await();
        long x = 0;
        for (Future<Long> f : fs) x ^= f.get();
        ex.shutdown();
        System.out.println("terminated=" + ex.awaitTermination(30, TimeUnit.SECONDS));
        System.out.println("syncSum=" + syncSum + " atomic=" + atomic.get() + " xor=" + Long.toHexString(x));
        System.out.println("map=" + new TreeMap<>(map));
        System.out.println("workers=" + names.size());
        for (String l : Files.readAllLines(Paths.get("/proc/self/status")))
            if (l.startsWith("Threads:")) System.err.println("os_threads=" + l.substring(8).trim());
    }
}
