/* tools/common/rlimit.h - process limits the servers set at start-up. */
#ifndef RINGO_TOOLS_RLIMIT_H
#define RINGO_TOOLS_RLIMIT_H

/* Raise RLIMIT_NOFILE's soft limit to the hard one: a server holds one fd
 * per connection (Go's runtime does the same at start-up). Best effort. */
void tool_raise_fd_limit(void);

#endif
