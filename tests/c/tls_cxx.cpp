// C++ threads under the shim as natively: thread_local objects with destructors (run at each
// thread's end), std::mutex, std::condition_variable, std::call_once, std::async. Sorted,
// order-independent output; the OS thread count while threads are alive on stderr.
#include <thread>
#include <mutex>
#include <condition_variable>
#include <future>
#include <vector>
#include <cstdio>
#include <cstring>
#include <string>
#include <atomic>
#include <algorithm>
static std::mutex log_m;
static std::vector<std::string> events;
struct Tracker {
    int id = -1;
    ~Tracker() { if (id >= 0) { std::lock_guard<std::mutex> g(log_m); events.push_back("dtor " + std::to_string(id)); } }
};
thread_local Tracker tracker;
thread_local int tl_counter = 0;
std::once_flag once;
std::atomic<int> once_runs{0};
int main() {
    std::mutex m; std::condition_variable cv; int ready = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 10; i++) ts.emplace_back([&, i] {
        tracker.id = i;
        for (int k = 0; k < 50; k++) { tl_counter += i; if (k % 7 == 0) std::this_thread::yield(); }
        std::call_once(once, [] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); once_runs++; });
        std::unique_lock<std::mutex> l(m);
        ready++; cv.notify_all();
        cv.wait(l, [&] { return ready >= 10; });
        if (i == 0) {
            FILE *f = std::fopen("/proc/self/status", "r");
            char line[256];
            while (f && std::fgets(line, sizeof line, f))
                if (std::strncmp(line, "Threads:", 8) == 0) std::fputs(line, stderr);
            if (f) std::fclose(f);
        }
        std::lock_guard<std::mutex> g(log_m);
        events.push_back("t" + std::to_string(i) + " " + std::to_string(tl_counter));
    });
    for (auto &t : ts) t.join();
    auto f1 = std::async(std::launch::async, [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); return tl_counter + 42; });
    auto f2 = std::async(std::launch::async, [] { tl_counter = 7; return tl_counter; });
    std::printf("async %d %d once %d main tl %d\n", f1.get(), f2.get(), once_runs.load(), tl_counter);
    std::sort(events.begin(), events.end());
    for (auto &e : events) std::printf("%s\n", e.c_str());
}
