/* Preemption signal flag. */
#include "common/signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common/error.h"

static volatile sig_atomic_t pending_signal = 0;

static void on_signal(int sig) {
    if (pending_signal == 0) pending_signal = sig;
}

int af_signals_install(void) {
    static const int sigs[] = {SIGTERM, SIGUSR1, SIGINT};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return af_error_set(AF_EIO, "sigaction(%d): %s", sigs[i], strerror(errno));
    /* a file size limit (RLIMIT_FSIZE) is then a write error (EFBIG) the run reports and
     * stops on cleanly, like a full disk, instead of a death by SIGXFSZ */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGXFSZ, &sa, NULL) != 0) return af_error_set(AF_EIO, "sigaction(SIGXFSZ): %s", strerror(errno));
    return 0;
}

int af_signals_pending(void) { return (int)pending_signal; }

void af_signals_reset(void) { pending_signal = 0; }
