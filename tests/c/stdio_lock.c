/* glibc's internal FILE lock, contended while its holder parks: one thread holds stdout
 * (flockfile) across a blocking read, another printf()s meanwhile. Natively the printf waits for
 * the funlockfile while the other threads run; under the shim the lock's futex wait, made inside
 * libc, must park only its greenlet. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <stdatomic.h>
#include "ticker.h"
static int p[2];
static void *holder(void *a) { flockfile(stdout); char c; read(p[0], &c, 1); printf("holder got %c\n", c); funlockfile(stdout); return a; }
static void *feeder(void *a) { usleep(100000); write(p[1], "x", 1); return a; }
int main() { setvbuf(stdout, 0, _IOLBF, 0); pipe(p); pthread_t t, h, f; pthread_create(&t, 0, ticker, 0); pthread_create(&h, 0, holder, 0); usleep(20000);
  pthread_create(&f, 0, feeder, 0); int t0 = atomic_load(&ticks); printf("main printf after the holder\n"); int ran = atomic_load(&ticks) - t0;
  pthread_join(h, 0); pthread_join(f, 0); printf("ticker ran while main waited for stdout: %s\n", ran > 0 ? "yes" : "no"); atomic_store(&stop, 1); pthread_join(t, 0); }
