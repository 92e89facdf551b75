// C++ exceptions thrown by a once's init routine propagate to the caller, and the once is then
// "not done": the next call runs the routine again (std::call_once and plain pthread_once),
// also with another thread waiting on the once while the throwing routine runs.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <stdexcept>

static std::once_flag flag1;
static int calls1 = 0;

static void maybe_throw(bool do_throw) {
    calls1++;
    if (do_throw) throw std::runtime_error("init failed");
}

static pthread_once_t once2 = PTHREAD_ONCE_INIT;
static int calls2 = 0;
extern "C" void init2() {
    if (++calls2 < 3) throw calls2;
}

// Concurrent: a thread throws while another one waits on the same once.
static std::once_flag flag3;
static std::atomic<int> started{0};
static int calls3 = 0;
static const char *winner = "none";

static void *first(void *) {
    try {
        std::call_once(flag3, [] {
            calls3++;
            started = 1;
            usleep(200 * 1000); // the second thread is waiting on the once by now
            throw std::runtime_error("first fails");
        });
        std::printf("first: no exception\n");
    } catch (const std::exception &e) {
        std::printf("first: caught \"%s\"\n", e.what());
    }
    return nullptr;
}

static void *second(void *) {
    std::call_once(flag3, [] {
        calls3++;
        winner = "second";
    });
    return nullptr;
}

int main() {
    for (int i = 0; i < 3; i++) {
        try {
            std::call_once(flag1, maybe_throw, i == 0);
            std::printf("call_once %d: ok, calls=%d\n", i, calls1);
        } catch (const std::exception &e) {
            std::printf("call_once %d: caught \"%s\", calls=%d\n", i, e.what(), calls1);
        }
    }
    for (int i = 0; i < 4; i++) {
        try {
            int r = pthread_once(&once2, init2);
            std::printf("pthread_once %d: returned %d, calls=%d\n", i, r, calls2);
        } catch (int e) {
            std::printf("pthread_once %d: caught %d, calls=%d\n", i, e, calls2);
        }
    }
    pthread_t a, b;
    pthread_create(&a, nullptr, first, nullptr);
    while (!started) usleep(1000);
    pthread_create(&b, nullptr, second, nullptr);
    pthread_join(a, nullptr);
    pthread_join(b, nullptr);
    std::printf("concurrent: calls=%d winner=%s\n", calls3, winner);
    return 0;
}
