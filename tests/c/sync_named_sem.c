/* Named (sem_open) and process-shared semaphores stay glibc's: they work across processes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "/greenshim-test-%d", (int)getpid());
    sem_unlink(name);
    sem_t *n = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    sem_t *shared = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sem_init(shared, 1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20 * 1000);
        sem_post(n);
        usleep(20 * 1000);
        sem_post(shared);
        _exit(0);
    }
    int r1 = sem_wait(n);
    int r2 = sem_wait(shared);
    int v1 = -1, v2 = -1;
    sem_getvalue(n, &v1);
    sem_getvalue(shared, &v2);
    waitpid(pid, NULL, 0);
    printf("named: %d value %d; pshared: %d value %d\n", r1, v1, r2, v2);
    sem_close(n);
    sem_unlink(name);
    sem_destroy(shared);
    return 0;
}
