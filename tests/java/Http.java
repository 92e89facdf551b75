// com.sun.net.httpserver.HttpServer on 127.0.0.1 (an ephemeral port, printed as port=N) with a
// fixed pool of 4 threads; it answers GET /?n=N with "n=N sq=N*N", and once it has served
// COUNT requests it stops and exits 0 (1 if they did not come within 60 s).
import com.sun.net.httpserver.*;
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

public class Http {
    public static void main(String[] args) throws Exception {
        int total = Integer.parseInt(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        AtomicInteger served = new AtomicInteger();
        AtomicLong sum = new AtomicLong();
        CountDownLatch done = new CountDownLatch(total);
        server.createContext("/", exchange -> {
            String q = exchange.getRequestURI().getQuery();
            int n = Integer.parseInt(q.substring(2));
            byte[] body = ("n=" + n + " sq=" + (long) n * n + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) { os.write(body); }
            sum.addAndGet(n);
            served.incrementAndGet();
            done.countDown();
        });
        ExecutorService pool = Executors.newFixedThreadPool(4);
        server.setExecutor(pool);
        server.start();
        System.out.println("port=" + server.getAddress().getPort());
        System.out.flush();
        boolean ok = done.await(60, TimeUnit.SECONDS);
        server.stop(0);
        pool.shutdown();
        boolean terminated = pool.awaitTermination(10, TimeUnit.SECONDS);
        System.out.println("served=" + served.get() + " sum=" + sum.get() + " ok=" + ok + " terminated=" + terminated);
        for (String l : Files.readAllLines(Paths.get("/proc/self/status")))
            if (l.startsWith("Threads:")) System.err.println("os_threads=" + l.substring(8).trim());
        System.exit(ok ? 0 : 1);
    }
}
