/*
 * PID 1 of an execution environment's PID namespace (see lamina/sandbox/zygote.py, _init).
 *
 * The zygote forks an environment's first process into new namespaces; that process forks the
 * runtime (PID 2) and becomes this program, so the namespace's init holds a few kilobytes instead
 * of a copy of the zygote's Python heap. It reaps every process of the namespace, writes the
 * runtime's wait status (4 bytes, little-endian) to the status descriptor when the runtime ends,
 * and exits, which makes the kernel kill whatever is left in the namespace.
 *
 * Usage: lamina-init RUNTIME_PID STATUS_FD
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        return 2;
    }
    pid_t runtime = (pid_t)atoi(argv[1]);
    int status_fd = atoi(argv[2]);
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(0);
        }
        if (pid == runtime) {
            unsigned int value = (unsigned int)status;
            unsigned char bytes[4] = {value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >> 24) & 0xff};
            ssize_t written = write(status_fd, bytes, sizeof bytes);
            (void)written;
            _exit(0);
        }
    }
}
