/* Non-owner unlock and unlock-of-unlocked for every mutex type, robust and not, with the
 * priority-inheritance protocol: prints what each call returns (the spec is what glibc returns). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t m;

static void *unlocker(void *arg) {
    (void)arg;
    return (void *)(long)pthread_mutex_unlock(&m);
}

static const char *name(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EDEADLK: return "EDEADLK";
    case EINVAL: return "EINVAL";
    case ENOTSUP: return "ENOTSUP";
    default: return strerror(e);
    }
}

static void one(const char *tname, int type, int robust, int proto) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    if (robust) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (proto) pthread_mutexattr_setprotocol(&a, proto);
    if (proto == PTHREAD_PRIO_PROTECT) pthread_mutexattr_setprioceiling(&a, 0);
    int ri = pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
    printf("%s robust=%d proto=%d: init=%s", tname, robust, proto, name(ri));
    /* Priority-protect: only whether init is accepted (the rest depends on the scheduling
     * policy's priorities, which the shim does not model). */
    if (ri || proto == PTHREAD_PRIO_PROTECT) {
        if (ri == 0) pthread_mutex_destroy(&m);
        printf("\n");
        return;
    }
    /* Unlock of a never-locked mutex. */
    printf(" unlock_unlocked=%s", name(pthread_mutex_unlock(&m)));
    int t = pthread_mutex_trylock(&m);
    printf(" trylock=%s", name(t));
    if (t == 0) printf(" unlock=%s", name(pthread_mutex_unlock(&m)));
    /* Non-owner unlock: main holds it, another thread unlocks. */
    printf(" lock=%s", name(pthread_mutex_lock(&m)));
    pthread_t th;
    void *ret;
    pthread_create(&th, NULL, unlocker, NULL);
    pthread_join(th, &ret);
    printf(" nonowner_unlock=%s", name((int)(long)ret));
    /* Who holds it now? trylock from another thread tells (EBUSY: still held). */
    t = pthread_mutex_trylock(&m);
    printf(" main_trylock=%s", name(t));
    if (t == 0) printf(" unlock=%s", name(pthread_mutex_unlock(&m)));
    printf(" owner_unlock=%s", name(pthread_mutex_unlock(&m)));
    printf(" again=%s", name(pthread_mutex_unlock(&m)));
    printf(" destroy=%s\n", name(pthread_mutex_destroy(&m)));
}

int main(void) {
    static const struct { const char *n; int t; } types[] = {
        {"normal", PTHREAD_MUTEX_NORMAL},
        {"errorcheck", PTHREAD_MUTEX_ERRORCHECK},
        {"recursive", PTHREAD_MUTEX_RECURSIVE},
        {"adaptive", PTHREAD_MUTEX_ADAPTIVE_NP},
    };
    for (int proto = 0; proto < 3; proto++)
        for (int robust = 0; robust < 2; robust++)
            for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++)
                one(types[i].n, types[i].t, robust,
                    proto == 0 ? 0 : proto == 1 ? PTHREAD_PRIO_INHERIT : PTHREAD_PRIO_PROTECT);
    /* The static initializers. */
    pthread_mutex_t s1 = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
    printf("static adaptive unlock_unlocked=%s\n", name(pthread_mutex_unlock(&s1)));
    pthread_mutex_t s2 = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    printf("static errorcheck unlock_unlocked=%s\n", name(pthread_mutex_unlock(&s2)));
    return 0;
}
