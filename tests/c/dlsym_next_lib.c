/* A library loaded after the preload library that finds pthread_create with
 * dlsym(RTLD_NEXT, ...), as jemalloc does for its background thread. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int start_via_rtld_next(pthread_t *t, void *(*f)(void *), void *arg) {
    create_fn create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    if (!create)
        return -1;
    return create(t, 0, f, arg);
}

/* A name greenshim does not export must still resolve as natively. */
void *lookup_next(const char *name) { return dlsym(RTLD_NEXT, name); }
