# ringo - GNU Makefile (Linux only).
#   make            library, tools, examples, tests, baselines
#   make test       build and run the test suite on both backends
#   make demo       ringo-httpd + load generator on each backend, side by side
#   make bench      HTTP and HTTPS against nginx, h2o, Go, fasthttp and hand-written
#                   liburing/epoll responders (bench/http.py), the full echo
#                   benchmark against baselines and Go, the io_uring
#                   fast-path matrix, the concurrency micro-benchmarks against Go,
#                   timers at scale, file reads against dd (tables in bench/out/,
#                   summarised in bench/RESULTS.md)
#   make install    PREFIX=/usr/local: libringo.a, libringo.so, headers, ringo.pc
#   make SAN=asan   (asan = ASan+UBSan, ubsan, tsan) builds into build-$(SAN)/
#   make FAULT=1    test-only fault injection (src/base/fault.h) into build-fault/
#                   (with SAN=asan: build-asan-fault/)
#   make format / make format-check

SAN ?=
FAULT ?=
BUILD ?= build$(if $(SAN),-$(SAN),)$(if $(FAULT),-fault,)
PREFIX ?= /usr/local
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

ARCH := $(shell uname -m)
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer -fPIC $(WARN) -Iinclude -Isrc -MMD -MP
LDLIBS := -luring -lpthread $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

ifeq ($(SAN),asan)
CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SAN),ubsan)
CFLAGS += -fsanitize=undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=undefined
else ifeq ($(SAN),tsan)
CFLAGS += -fsanitize=thread
LDFLAGS += -fsanitize=thread
endif
# test-only fault injection (src/base/fault.h): short I/O, resets, ENOMEM
ifneq ($(FAULT),)
CFLAGS += -DRINGO_FAULT
endif

LIB_C := $(sort $(wildcard src/base/*.c src/sched/*.c src/io/*.c src/net/*.c src/sync/*.c src/tls/*.c src/http/*.c))
LIB_S := src/sched/switch_$(ARCH).S
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_S:%.S=$(BUILD)/%.o)

TOOLS := $(BUILD)/ringo-echo $(BUILD)/ringo-bench $(BUILD)/ringo-httpd
TEST_C := $(sort $(wildcard tests/test_*.c)) tests/t_main.c tests/t_seccomp.c tests/http_client.c tests/tls_certs.c
TEST_OBJ := $(TEST_C:%.c=$(BUILD)/%.o)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# bench/*.c: micro-benchmarks built on ringo (ctxswitch, chan, sync, file...)
BENCH_PROGS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
BASELINES := $(BUILD)/bench/baseline-epoll-echo $(BUILD)/bench/baseline-uring-echo \
             $(BUILD)/bench/baseline-epoll-http $(BUILD)/bench/baseline-uring-http \
             $(BENCH_PROGS)

# make test / make demo build with one job per CPU unless the caller gave -j
# (a serial build of the tree is most of a minute here)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUBJ = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(JOBS))

.PHONY: all lib tools tests examples baselines test demo bench soak install deps fuzz \
        deps-bench format format-check clean
all: lib tools tests examples baselines

lib: $(BUILD)/libringo.a $(BUILD)/libringo.so
tools: $(TOOLS)
tests: $(BUILD)/ringo-tests
examples: $(EXAMPLES)
baselines: $(BASELINES)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libringo.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libringo.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libringo.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ringo-echo: $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/echo/*.c tools/common/*.c)) \
    $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/ringo-bench: $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/bench/*.c tools/common/*.c)) \
    $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm
$(BUILD)/ringo-httpd: $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/httpd/*.c tools/common/*.c)) \
    $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/ringo-tests: $(TEST_OBJ) $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm
$(BUILD)/examples/%: $(BUILD)/examples/%.o $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Hand-written baselines: no runtime, plain C against epoll / liburing.
$(BUILD)/bench/baseline-epoll-echo: $(BUILD)/bench/baseline/epoll_echo.o
	$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/bench/baseline-uring-echo: $(BUILD)/bench/baseline/uring_echo.o
	$(CC) $(LDFLAGS) -o $@ $^ -luring
$(BUILD)/bench/baseline-epoll-http: $(BUILD)/bench/baseline/epoll_http.o
	$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/bench/baseline-uring-http: $(BUILD)/bench/baseline/uring_http.o
	$(CC) $(LDFLAGS) -o $@ $^ -luring
$(BENCH_PROGS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libringo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm
$(BUILD)/bench/go-echo: bench/baseline/go_echo/main.go
	@mkdir -p $(@D)
	cd bench/baseline/go_echo && GO111MODULE=off GOCACHE=$${GOCACHE:-/tmp/ringo-gocache} go build -o $(CURDIR)/$@ main.go
# Go peers of the concurrency micro-benchmarks (bench/go_conc/*.go)
$(BUILD)/bench/go-conc: $(wildcard bench/go_conc/*.go)
	@mkdir -p $(@D)
	cd bench/go_conc && GO111MODULE=off GOCACHE=$${GOCACHE:-/tmp/ringo-gocache} go build -o $(CURDIR)/$@ .

# HTTP peers: Go net/http and fasthttp (Debian's package, GOPATH mode)
$(BUILD)/bench/go-http: bench/baseline/go_http/main.go
	@mkdir -p $(@D)
	cd bench/baseline/go_http && GO111MODULE=off GOCACHE=$${GOCACHE:-/tmp/ringo-gocache} go build -o $(CURDIR)/$@ main.go
$(BUILD)/bench/go-fasthttp: bench/baseline/go_fasthttp/main.go
	@mkdir -p $(@D)
	cd bench/baseline/go_fasthttp && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$${GOCACHE:-/tmp/ringo-gocache} go build -o $(CURDIR)/$@ main.go

# libFuzzer targets (clang): make fuzz FUZZ_SECONDS=N runs the HTTP parser
# for N s while, beside it, the TLS server side runs FUZZ_TLS_SECONDS
# (default N) s on each backend in turn
FUZZ_SECONDS ?= 60
FUZZ_TLS_SECONDS ?= $(FUZZ_SECONDS)
FUZZ_BUILD := build-fuzz
$(FUZZ_BUILD)/http-parse-fuzz: fuzz/http_parse.c $(wildcard src/http/parse*.c) src/http/parse.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ fuzz/http_parse.c $(wildcard src/http/parse*.c)
# The TLS server (fuzz/tls_server.c) needs the whole runtime: the library
# again with clang and ASan+UBSan, coverage only in src/tls, where the
# input goes (the scheduler's edges would only be timing noise).
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(WARN) -Iinclude -Isrc \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
FUZZ_LIB_OBJ := $(LIB_C:%.c=$(FUZZ_BUILD)/lib/%.o) $(LIB_S:%.S=$(FUZZ_BUILD)/lib/%.o)
$(FUZZ_BUILD)/lib/src/tls/%.o: src/tls/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/lib/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_BUILD)/lib/%.o: %.S
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_BUILD)/tls-server-fuzz: fuzz/tls_server.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
fuzz: deps
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(SUBJ) $(FUZZ_BUILD)/http-parse-fuzz $(FUZZ_BUILD)/tls-server-fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/corpus-tls
	@# the HTTP parser beside the TLS runs (each fuzzer is one thread): the
	@# same executions per target in half the wall time; the parser's log
	@# goes to a file, printed when both are done, so the two do not mix
	@$(FUZZ_BUILD)/http-parse-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -dict=fuzz/http.dict $(FUZZ_BUILD)/corpus fuzz/seeds > $(FUZZ_BUILD)/http-parse-fuzz.log 2>&1 & \
	http=$$!; tls=0; \
	for b in uring epoll; do \
	    echo "== tls-server-fuzz, RINGO_BACKEND=$$b, $(FUZZ_TLS_SECONDS) s"; \
	    RINGO_BACKEND=$$b $(FUZZ_BUILD)/tls-server-fuzz -max_total_time=$(FUZZ_TLS_SECONDS) \
	        -max_len=8192 -timeout=30 $(FUZZ_BUILD)/corpus-tls fuzz/seeds-tls || { tls=1; break; }; \
	done; \
	wait $$http; rc=$$?; \
	echo "== http-parse-fuzz, $(FUZZ_SECONDS) s"; cat $(FUZZ_BUILD)/http-parse-fuzz.log; \
	if [ $$rc -ne 0 ]; then echo "http-parse-fuzz failed (exit $$rc)"; fi; \
	[ $$rc -eq 0 ] && [ $$tls -eq 0 ]

deps:
	@sh scripts/deps.sh build
deps-bench:
	@sh scripts/deps.sh bench

test: deps
	@$(MAKE) --no-print-directory $(SUBJ) all
	@$(BUILD)/ringo-tests
	@python3 scripts/check_doc_examples.py --build $(BUILD) --san="$(SAN)" --cc="$(CC)" --flags="$(LDFLAGS)" --self-test
	@python3 scripts/check_doc_examples.py --build $(BUILD) --san="$(SAN)" --cc="$(CC)" --flags="$(LDFLAGS)"

demo: deps
	@$(MAKE) --no-print-directory $(SUBJ) all
	@sh scripts/demo.sh $(BUILD)

# Not in CI: 10,000 connections for 10 minutes per backend (bench/README.md)
SOAK_ARGS ?=
soak: deps
	@$(MAKE) --no-print-directory lib tools
	@python3 bench/soak.py --build $(BUILD) $(SOAK_ARGS)

bench: deps deps-bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench/go-echo $(BUILD)/bench/go-http \
	    $(BUILD)/bench/go-fasthttp
	@python3 bench/http.py --build $(BUILD)
	@python3 bench/http.py --build $(BUILD) --loadgen ringo-bench --scenarios plaintext-c1000 \
	    --servers baseline-uring,baseline-epoll,ringo-uring,ringo-epoll,nginx,h2o,h2o-file,go-http,fasthttp
	@python3 bench/https.py --build $(BUILD)
	@python3 bench/echo.py --build $(BUILD) --perf-runs extra
	@python3 bench/matrix.py --build $(BUILD)
	@taskset -c 0 $(BUILD)/bench/ctxswitch
	@$(MAKE) --no-print-directory $(BUILD)/bench/go-conc
	@python3 bench/conc.py --build $(BUILD)
	@taskset -c 0 $(BUILD)/bench/schedscale
	@taskset -c 0,1 $(BUILD)/bench/schedscale spread
	@python3 bench/fileread.py --build $(BUILD)

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ringo
	install -m 644 $(BUILD)/libringo.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libringo.so $(DESTDIR)$(PREFIX)/lib/libringo.so.0
	ln -sf libringo.so.0 $(DESTDIR)$(PREFIX)/lib/libringo.so
	install -m 644 include/ringo.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/ringo/*.h $(DESTDIR)$(PREFIX)/include/ringo/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' ringo.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ringo.pc

FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: ok"

clean:
	rm -rf build build-asan build-ubsan build-tsan build-fuzz build-fault build-asan-fault

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
