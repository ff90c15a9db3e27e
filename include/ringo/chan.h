/* ringo/chan.h - Go channels and select for coroutines, across workers.
 *
 * A channel carries fixed-size elements (elem_size bytes, copied in and
 * out; 0 is allowed for pure signals). capacity 0 makes an unbuffered
 * channel: a send completes only when a receiver takes the element
 * (a rendezvous), as in Go. Channels may be used from coroutines of any
 * worker at once; a waiting sender or receiver parks (never spins a
 * thread) and is woken on its own worker.
 *
 * Go semantics, mapped to return codes:
 *   - receive from a closed channel: drains buffered elements first, then
 *     returns -EPIPE at once with the element zeroed;
 *   - send on a closed channel: -EPIPE (Go panics; ringo reports);
 *   - close of a closed channel: -EPIPE (Go panics); close wakes every
 *     waiting receiver (-EPIPE) and every waiting sender (-EPIPE);
 *   - a NULL channel is Go's nil channel: send and receive block until the
 *     deadline (-ETIMEDOUT) or cancellation; a select case on it is never
 *     ready;
 *   - RINGO_NOWAIT as deadline is Go's `select { ...; default: }`: the call
 *     returns -ETIMEDOUT at once if it would have to wait.
 * Ordering: elements are received in the order they were sent (FIFO);
 * waiting senders and receivers are served first come, first served.
 */
#ifndef RINGO_CHAN_H
#define RINGO_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ringo_chan ringo_chan;

/* Largest element a channel carries (copied by value). */
#define RINGO_CHAN_MAX_ELEM (64 * 1024)

/* Create a channel of capacity elements of elem_size bytes into *out.
 * Returns 0, -EINVAL (elem_size > RINGO_CHAN_MAX_ELEM, out NULL, or the
 * buffer size overflows), -ENOMEM. Any thread; never blocks. The caller
 * owns the channel and frees it with ringo_chan_free(). */
int ringo_chan_new(ringo_chan **out, size_t elem_size, size_t capacity);

/* Free a channel. No coroutine may be waiting on it or use it afterwards
 * (close it and let the users finish first); closing is not required.
 * Buffered elements are discarded. NULL is ignored. Never blocks. */
void ringo_chan_free(ringo_chan *ch);

/* Send a copy of elem_size bytes at elem. Blocks until a receiver takes it
 * (unbuffered) or there is room in the buffer. Returns 0; -EPIPE if the
 * channel is or gets closed (the element was not delivered); -ETIMEDOUT;
 * -ECANCELED (also at once, without sending, if the caller was cancelled
 * before); -EINVAL (elem NULL with elem_size > 0); RINGO_ENOTINCORO
 * (blocking from a plain thread; a RINGO_NOWAIT try works on any
 * thread). On any error the element was not delivered. elem is only read
 * before the call returns (while parked, the receiver copies it straight
 * from there). Never allocates. */
int ringo_chan_send(ringo_chan *ch, const void *elem, int64_t deadline);

/* Receive one element into elem (elem_size bytes; elem may be NULL to
 * drop it). Returns 0; -EPIPE when the channel is closed and drained
 * (elem zeroed); -ETIMEDOUT; -ECANCELED (also at once if the caller was
 * cancelled before); RINGO_ENOTINCORO (blocking from a plain thread; a
 * RINGO_NOWAIT try works on any thread). On -ETIMEDOUT and -ECANCELED
 * nothing was consumed and elem is untouched. elem is written only before
 * the call returns (while parked, the sender writes into it directly).
 * Never allocates. */
int ringo_chan_recv(ringo_chan *ch, void *elem, int64_t deadline);

/* Close: no more sends. Buffered elements stay receivable. Every parked
 * receiver and sender is woken with -EPIPE. Returns 0, -EPIPE if already
 * closed, -EINVAL for NULL. Any thread (also outside coroutines); never
 * blocks. */
int ringo_chan_close(ringo_chan *ch);

/* Elements buffered now, and the capacity (0 for NULL). Any thread; never
 * blocks; len is a snapshot. */
size_t ringo_chan_len(ringo_chan *ch);
size_t ringo_chan_cap(ringo_chan *ch);

enum ringo_select_op {
    RINGO_SELECT_SEND = 1,
    RINGO_SELECT_RECV = 2,
};

typedef struct ringo_select_case {
    ringo_chan *ch; /* NULL: a nil channel, never ready */
    int op;         /* RINGO_SELECT_SEND or RINGO_SELECT_RECV */
    void *elem;     /* send: the element to send; recv: where to store it
                       (may be NULL) */
    int res;        /* out, for the case that fired: 0, or -EPIPE (recv:
                       closed and drained; send: closed) */
} ringo_select_case;

/* Most cases one select takes. */
#define RINGO_SELECT_MAX 64

/* Go's select: wait until one of the n cases can proceed, do it, and
 * return its index (its .res says how it went). When several are ready,
 * one is chosen uniformly at random so none is starved. Each channel may
 * appear in several cases, also as a send and a receive in the same
 * select (they never match each other). A receive case on a closed,
 * drained channel is ready (.res -EPIPE, elem zeroed); so is a send case
 * on a closed channel (.res -EPIPE, nothing sent; Go panics). Exactly one
 * case takes effect; the others leave their channels and elements
 * untouched. RINGO_NOWAIT as deadline acts as Go's default case:
 * -ETIMEDOUT at once if none is ready. Returns the index, -ETIMEDOUT,
 * -ECANCELED (also at once if the caller was cancelled before), -EINVAL
 * (cases NULL with n > 0, n < 0, n > RINGO_SELECT_MAX, bad op, a send
 * case with elem NULL on a channel with elem_size > 0), RINGO_ENOTINCORO
 * (blocking from a plain thread; RINGO_NOWAIT works on any thread). On a
 * negative return no case took effect. n == 0 (cases may then be NULL) or
 * only nil channels waits for the deadline, like Go's empty select.
 * The case array and the elements are used only until the call returns.
 * Never allocates. */
int ringo_select(ringo_select_case *cases, int n, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
