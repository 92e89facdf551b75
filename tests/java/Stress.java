// Heavier JVM workout (see tests/java.rs, ignored test java_stress_forkjoin): stack overflows in
// main and in threads of several stack sizes, allocation under 8 threads (GCs), a bounded queue,
// a parallel stream (ForkJoinPool common pool: hangs now and then under greenshim, see README),
// CompletableFuture.
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.concurrent.locks.*;

public class Stress {
    static int depth;
    static void rec() { depth++; rec(); }
    static int soe(int d0) {
        depth = 0;
        try { rec(); } catch (StackOverflowError e) { return depth > 1000 ? 1 : 0; }
        return -1;
    }
    public static void main(String[] args) throws Exception {
        // stack overflow in main and in a new thread (with and without explicit stack size)
        System.out.println("soe main=" + soe(0));
        int[] r = new int[3];
        Thread t1 = new Thread(() -> r[0] = soe(0)); t1.start(); t1.join();
        Thread t2 = new Thread(null, () -> r[1] = soe(0), "big", 4 << 20); t2.start(); t2.join();
        Thread t3 = new Thread(null, () -> r[2] = soe(0), "small", 256 << 10); t3.start(); t3.join();
        System.out.println("soe threads=" + Arrays.toString(r));
        // again, reusing stacks of ended threads
        for (int i = 0; i < 3; i++) { Thread t = new Thread(() -> r[0] = soe(0)); t.start(); t.join(); }
        System.out.println("soe reuse=" + r[0]);
        // allocation pressure: GC with many threads alive
        ExecutorService ex = Executors.newFixedThreadPool(8);
        AtomicLong sum = new AtomicLong();
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            final int n = i;
            fs.add(ex.submit(() -> {
                long s = 0;
                List<int[]> keep = new ArrayList<>();
                for (int k = 0; k < 2000; k++) {
                    int[] a = new int[256 + (k % 100)];
                    a[k % a.length] = k;
                    s += a.length;
                    if (k % 50 == 0) keep.add(a);
                    if (k % 500 == 0) Thread.yield();
                }
                sum.addAndGet(s + keep.size());
            }));
        }
        for (Future<?> f : fs) f.get();
        System.gc();
        System.out.println("alloc sum=" + sum.get());
        // ReentrantLock + Condition, producer/consumer with bounded queue
        BlockingQueue<Integer> q = new ArrayBlockingQueue<>(4);
        Future<Long> cons = ex.submit(() -> { long s = 0; for (int i = 0; i < 10000; i++) s += q.take(); return s; });
        for (int i = 0; i < 10000; i++) q.put(i);
        System.out.println("queue sum=" + cons.get());
        // parallel streams (ForkJoin common pool)
        System.out.println("stream=" + java.util.stream.LongStream.range(0, 1_000_000).parallel().map(x -> x * x % 1000).sum());
        // CompletableFuture chain
        System.out.println("cf=" + CompletableFuture.supplyAsync(() -> 21, ex).thenApplyAsync(x -> x * 2, ex).get());
        ex.shutdown(); ex.awaitTermination(10, TimeUnit.SECONDS);
        System.out.println("threads seen=" + (Thread.getAllStackTraces().size() > 0));
    }
}
