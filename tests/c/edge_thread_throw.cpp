// An exception nothing catches in a thread's start routine ("start") or in a thread-specific
// data destructor ("key") calls std::terminate at the throw, as natively: the thread's local
// objects are not destroyed first (nothing is unwound), and main's catch (...) never sees it.
#include <pthread.h>

#include <cstdio>
#include <cstring>

struct Noisy {
    ~Noisy() { std::printf("destructor ran\n"); }
};

static pthread_key_t key;

extern "C" void dtor(void *) { throw 7; }

static void *start(void *p) {
    Noisy n;
    if (p) throw 42;
    pthread_setspecific(key, (void *)1);
    return nullptr;
}

int main(int argc, char **argv) {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    pthread_key_create(&key, dtor);
    bool in_start = argc > 1 && !std::strcmp(argv[1], "start");
    std::printf("mode %s\n", in_start ? "start" : "key");
    try {
        pthread_t t;
        pthread_create(&t, nullptr, start, in_start ? (void *)1 : nullptr);
        pthread_join(t, nullptr);
    } catch (...) {
        std::printf("main caught\n");
    }
    std::printf("after join\n");
    return 0;
}
