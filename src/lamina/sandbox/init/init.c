/*
 * PID 1 of an execution environment's PID namespace (see lamina/sandbox/zygote.py, _init).
 *
 * The zygote makes a new PID namespace, starts this program in it with posix_spawn (no copy of the
 * zygote's Python heap, not even a page table), then forks the runtime into it as PID 2. This
 * program reaps every process the namespace's orphans leave, and exits when the zygote closes the
 * write end of the lifeline (after the runtime ended, or because the zygote died): the kernel then
 * kills whatever is left in the namespace.
 *
 * Usage: lamina-init LIFELINE_FD
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        return 2;
    }
    int lifeline = atoi(argv[1]);
    /* Started from /proc/self/fd/N, its name would be "N" in ps and top. */
    prctl(PR_SET_NAME, "lamina-init", 0, 0, 0);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) {
        return 1;
    }
    int reaped = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (reaped < 0) {
        return 1;
    }
    struct pollfd watched[2] = {{lifeline, POLLIN, 0}, {reaped, POLLIN, 0}};
    for (;;) {
        /* Children that ended before the signal was blocked are reaped here on the first turn. */
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (poll(watched, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }
        if (watched[0].revents) { /* end of file, or an error: either way the zygote is done */
            _exit(0);
        }
        struct signalfd_siginfo info;
        while (read(reaped, &info, sizeof info) == (ssize_t)sizeof info) {
        }
    }
}
