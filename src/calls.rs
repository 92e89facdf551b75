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
    sigaction, sigprocmask, pthread_sigmask, raise, pthread_kill, statx,
);

/// Number of traceable calls.
pub const COUNT: usize = NAMES.len();

/// The call named `name`, if greenshim traces it.
pub fn by_name(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// strace's names for what greenshim traces under libc's names: a strace user's
/// `-e trace=openat` must select `open` too (glibc's `open` is the `openat` system call).
const ALIASES: &[(&str, &[&str])] = &[
    ("openat", &["open", "openat", "creat"]),
    ("newfstatat", &["fstat", "stat", "lstat", "fstatat"]),
    ("rt_sigaction", &["sigaction"]),
    ("rt_sigprocmask", &["sigprocmask", "pthread_sigmask"]),
    ("tgkill", &["raise", "pthread_kill"]),
    ("eventfd2", &["eventfd"]),
    ("pread", &["pread64"]),
    ("pwrite", &["pwrite64"]),
    ("pselect6", &["pselect"]),
    ("execve", &["execve", "execv", "execvp", "execvpe", "fexecve"]),
];

/// strace's classes (`-e trace=%file`), over the calls greenshim traces.
const CLASSES: &[(&str, &[&str])] = &[
    ("%file", &["open", "openat", "creat", "stat", "lstat", "fstatat", "statx", "execve", "execv", "execvp", "execvpe"]),
    ("%desc", &[
        "read", "readv", "write", "writev", "close", "dup", "dup2", "dup3", "fcntl", "ioctl", "pipe", "pipe2", "eventfd", "poll",
        "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_create", "epoll_create1", "epoll_ctl",
        "close_range", "open", "openat", "creat", "fstat", "fstatat", "statx", "lseek", "pread64", "pwrite64", "copy_file_range", "sendfile",
        "flock", "fexecve",
    ]),
    ("%network", &[
        "socket", "socketpair", "accept", "accept4", "connect", "setsockopt", "recv", "recvfrom", "recvmsg", "recvmmsg", "send",
        "sendto", "sendmsg", "sendmmsg",
    ]),
    ("%signal", &["sigaction", "sigprocmask", "pthread_sigmask", "raise", "pthread_kill", "sigwait", "sigwaitinfo", "sigtimedwait", "sigsuspend", "pause"]),
    ("%process", &["execve", "execv", "execvp", "execvpe", "fexecve", "wait4", "waitid", "pthread_create", "pthread_join", "pthread_detach"]),
];

/// The calls `name` selects in a filter: a call greenshim traces, one of strace's names for
/// some (`openat`, `newfstatat`, `rt_sigaction`, ...), or a class (`%file`, `%desc`,
/// `%network` or `%net`, `%signal`, `%process`). `None`: nothing greenshim traces.
pub fn select(name: &str) -> Option<Vec<&'static str>> {
    let name = if name == "%net" { "%network" } else { name };
    if let Some((_, calls)) = ALIASES.iter().chain(CLASSES).find(|(n, _)| *n == name) {
        return Some(calls.to_vec());
    }
    by_name(name).map(|i| vec![NAMES[i]])
}

/// What a filter may name besides the calls themselves, for messages.
pub fn other_names() -> String {
    let mut v: Vec<&str> = ALIASES.iter().chain(CLASSES).map(|(n, _)| *n).filter(|n| by_name(n).is_none()).collect();
    v.push("%net");
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_classes_name_traced_calls() {
        for (name, calls) in ALIASES.iter().chain(CLASSES) {
            for c in *calls {
                assert!(by_name(c).is_some(), "{name} names {c}, which is not traced");
            }
        }
        assert_eq!(select("openat"), Some(vec!["open", "openat", "creat"]));
        assert_eq!(select("read"), Some(vec!["read"]));
        assert_eq!(select("%net").unwrap(), select("%network").unwrap());
        assert_eq!(select("bogus"), None);
    }
}
