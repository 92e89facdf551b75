//! The calls greenshim can trace, by name: shared by the settings (to validate
//! `GREENSHIM_TRACE_FILTER` before anything runs) and by the preload library's tracer.

macro_rules! calls {
    ($($name:ident),* $(,)?) => {
        /// Every call the shim can trace.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u16)]
        pub enum Call { $($name),* }
        /// Names, indexed by `Call as usize`.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

calls!(
    read, readv, write, writev, recv, recvfrom, recvmsg, recvmmsg, send, sendto, sendmsg, sendmmsg,
    sendfile, accept, accept4, connect, socket, socketpair, close, dup, dup2, dup3, fcntl, ioctl,
    pipe, pipe2, eventfd, poll, ppoll, select, pselect, epoll_wait, epoll_pwait, epoll_pwait2,
    sleep, usleep, nanosleep, clock_nanosleep, sched_yield, pthread_create, pthread_join,
    pthread_detach, pthread_mutex_lock, pthread_mutex_timedlock, pthread_cond_wait,
    pthread_cond_timedwait, pthread_rwlock_rdlock, pthread_rwlock_wrlock, pthread_barrier_wait,
    pthread_once, sem_wait, sem_timedwait, sigwait, sigwaitinfo, sigtimedwait, sigsuspend, pause,
    futex, wait4, waitid, flock, lockf, io_uring_enter, io_getevents,
    // Passed through natively (regular files, paths): traced so that a trace shows what
    // strace shows.
    open, openat, creat, fstat, stat, lstat, fstatat, lseek, pread64, pwrite64, copy_file_range,
    epoll_create, epoll_create1, epoll_ctl, close_range, setsockopt,
    execve, execv, execvp, execvpe, fexecve,
    sigaction, sigprocmask, pthread_sigmask, raise, pthread_kill,
);

/// Number of traceable calls.
pub const COUNT: usize = NAMES.len();

/// The call named `name`, if greenshim traces it.
pub fn by_name(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}
