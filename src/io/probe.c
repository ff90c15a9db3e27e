/* Choosing the backend: RINGO_BACKEND / ringo_config.backend if set, else
 * io_uring, falling back to epoll when io_uring cannot be had. */
#include <errno.h>
#include <string.h>

#include "base/fault.h"
#include "base/log.h"
#include "io/backend.h"
#include "sched/sched.h"

static const char *why(int err)
{
    switch (err) {
    case -ENOSYS:
        return "io_uring_setup is not implemented (old kernel or CONFIG_IO_URING=n)";
    case -EPERM:
        return "io_uring_setup denied (kernel.io_uring_disabled or a seccomp filter)";
    case -EACCES:
        return "io_uring_setup denied (LSM policy)";
    case -ENOMEM:
        return "not enough locked memory for the ring (RLIMIT_MEMLOCK)";
    case -ENOTSUP:
        return "io_uring lacks a feature or opcode ringo needs (Linux >= 5.19 recommended)";
    default:
        return NULL;
    }
}

int ringo__backend_select(struct ringo_worker *w, const ringo_config *cfg,
                          const struct ringo_backend **chosen, const char **fallback_reason)
{
    *fallback_reason = NULL;
    const char *want = cfg->backend ? cfg->backend : "auto";
    int r;
    if (strcmp(want, "epoll") == 0) {
        r = ringo__epoll_backend.init(w, cfg);
        *chosen = &ringo__epoll_backend;
    } else {
        r = ringo__uring_backend.init(w, cfg);
        *chosen = &ringo__uring_backend;
        if (r < 0 && strcmp(want, "auto") == 0) {
            const char *reason = why(r);
            ringo__log("io_uring unavailable (%s: %s); falling back to epoll", ringo_err_name(r),
                       reason ? reason : ringo_strerror(r));
            *fallback_reason = reason ? reason : ringo_err_name(r);
            r = ringo__epoll_backend.init(w, cfg);
            *chosen = &ringo__epoll_backend;
        } else if (r < 0) {
            const char *reason = why(r);
            ringo__log("RINGO_BACKEND=uring but io_uring is unavailable (%s: %s)",
                       ringo_err_name(r), reason ? reason : ringo_strerror(r));
        }
    }
    if (r == 0 && cfg->verbose)
        ringo__log("backend %s (%s), %d worker(s), features: %s", (*chosen)->name,
                   strcmp(want, "auto") == 0 ? "auto" : "requested", cfg->workers,
                   (*chosen)->features(w));
    return r;
}

int ringo__backend_fall_back(struct ringo_worker *w, const ringo_config *cfg, int failed_worker,
                             int err, const char **fallback_reason)
{
    if (w->id == 0) {
        const char *reason = why(err);
        ringo__log("worker %d: io_uring unavailable (%s: %s) after worker 0 set up its ring; "
                   "falling back to epoll on every worker",
                   failed_worker, ringo_err_name(err), reason ? reason : ringo_strerror(err));
        *fallback_reason = reason ? reason : ringo_err_name(err);
    }
    if (w->be_state)
        ringo__uring_backend.fini(w);
    /* the counters describe the runtime that runs, not the ring's
     * start-up probes (nothing else has happened yet) */
    memset(&w->stats, 0, sizeof(w->stats));
    return ringo__epoll_backend.init(w, cfg);
}

int ringo__io(struct ringo_op *op)
{
    struct ringo_worker *w = ringo__self;
    if (!w || !w->current)
        return RINGO_ENOTINCORO;
    /* a fault build may cut or fail op here; otherwise a plain call */
    return RINGO_FAULT_IO(w, op, w->be->io);
}
