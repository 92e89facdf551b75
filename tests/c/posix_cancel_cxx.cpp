// C++ under pthread_exit and cancellation: destructors of every frame run (innermost first),
// interleaved with pthread_cleanup_push handlers (a class in C++), catch (...) blocks that
// rethrow run, abi::__forced_unwind is seen; the main thread's pthread_exit unwinds main's frame.
// With argument "swallow", a catch (...) that does not rethrow ends the process (glibc: FATAL:
// exception not rethrown, abort).
#include <pthread.h>
#include <unistd.h>
#include <cxxabi.h>
#include <cstdio>
#include <cstring>
#include <string>

static std::string log_s;

struct Noisy {
    const char *name;
    explicit Noisy(const char *n) : name(n) {}
    ~Noisy() { log_s += std::string(name) + " "; }
};

static void handler(void *arg) { log_s += std::string((const char *)arg) + " "; }

static void deep_exit() {
    Noisy a("d-deep");
    pthread_exit((void *)5);
}

static void *t_exit(void *) {
    Noisy a("d-start");
    pthread_cleanup_push(handler, (void *)"h-start");
    {
        Noisy b("d-block");
        try {
            deep_exit();
        } catch (abi::__forced_unwind &) {
            log_s += "caught-forced ";
            throw;
        }
    }
    pthread_cleanup_pop(0);
    return nullptr;
}

static void *t_cancel(void *) {
    Noisy a("c-start");
    try {
        Noisy b("c-try");
        for (;;)
            usleep(1000);
    } catch (...) {
        log_s += "catch-all ";
        throw;
    }
    return nullptr;
}

static void *t_swallow(void *) {
    try {
        pthread_exit(nullptr);
    } catch (...) {
        log_s += "swallowed ";
    }
    return nullptr;
}

static void *t_late(void *) {
    usleep(30000);
    printf("late thread: log=%s\n", log_s.c_str());
    fflush(stdout);
    return nullptr;
}

static void run(const char *name, void *(*fn)(void *), bool cancel) {
    pthread_t t;
    void *ret;
    log_s.clear();
    pthread_create(&t, nullptr, fn, nullptr);
    if (cancel) {
        usleep(10000);
        pthread_cancel(t);
    }
    int r = pthread_join(t, &ret);
    printf("%s: join=%d ret=%s log=%s\n", name, r, ret == PTHREAD_CANCELED ? "CANCELED" : ret == (void *)5 ? "5" : "other", log_s.c_str());
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "swallow") == 0) {
        run("swallow", t_swallow, false);
        return 0;
    }
    run("exit", t_exit, false);
    run("cancel", t_cancel, true);
    log_s.clear();
    pthread_t late;
    pthread_create(&late, nullptr, t_late, nullptr);
    Noisy m("main-local");
    pthread_cleanup_push(handler, (void *)"main-handler");
    pthread_exit(nullptr);
    pthread_cleanup_pop(0);
}
