# lattice — the only build logic. mix.exs and rebar.config both call this file.
#
#   make            build priv/lattice_nif.so, priv/lattice_crypto_nif.so and priv/lattice_cnode
#   make test       install what is missing (Debian), then build and run every check
#   make bench      benchmarks (a table of medians, with ratios against the real riak_dt)
#   make fuzz       bounded libFuzzer runs over every decoder
#   make shell      an IEx session with lattice loaded
#   make docs       the API documentation (edoc) in doc/
#   make demo       three nodes with their C nodes on loopback, replicating, partitioned, healed

.DEFAULT_GOAL := all
SHELL := /bin/bash

ERL ?= erl
# rebar3 exports these three to its hooks; otherwise ask the `erl` on PATH (once per make run).
ifeq ($(ERTS_INCLUDE_DIR)$(ERL_EI_INCLUDE_DIR)$(ERL_EI_LIBDIR),)
ERL_DIRS := $(shell $(ERL) -noshell -eval 'io:format("~ts/erts-~ts/include ~ts ~ts", [code:root_dir(), erlang:system_info(version), code:lib_dir(erl_interface, include), code:lib_dir(erl_interface, lib)]), halt().' 2>/dev/null)
ERTS_INCLUDE_DIR := $(word 1,$(ERL_DIRS))
ERL_EI_INCLUDE_DIR := $(word 2,$(ERL_DIRS))
ERL_EI_LIBDIR := $(word 3,$(ERL_DIRS))
endif

CC ?= cc
OPT ?= -O2 -ftree-vectorize
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CORE_CFLAGS := -std=c99 $(OPT) -g -fPIC -fvisibility=hidden $(WARN) -Ic_src
GLUE_CFLAGS := -std=gnu11 $(OPT) -g -fPIC -fvisibility=hidden $(WARN) -Ic_src -I$(ERTS_INCLUDE_DIR)
CNODE_CFLAGS := -std=gnu11 $(OPT) -g -D_REENTRANT $(WARN) -Ic_src -I$(ERL_EI_INCLUDE_DIR)

# Header dependencies come from the compiler (-MMD: build/*/*.d, included below); -MP adds an
# empty rule per header, so a deleted header does not stop the build.
DEPFLAGS := -MMD -MP
CORE_SRC := $(sort $(wildcard c_src/*.c))
CORE_HDR := $(wildcard c_src/*.h)
NIF_SRC := $(sort $(wildcard nif/*.c))
CNODE_SRC := $(sort $(wildcard cnode/*.c))
CNODE_HDR := $(wildcard cnode/*.h)
CORE_OBJ := $(CORE_SRC:c_src/%.c=build/core/%.o)
NIF_OBJ := $(NIF_SRC:nif/%.c=build/nif/%.o)

NIF_SO := priv/lattice_nif.so
CNODE_BIN := priv/lattice_cnode

# The crypto NIF library, a separate .so linked with libsodium (the CRDT library above does not
# link it): its C core in c_src/crypto/ (C99 and sodium.h, no BEAM headers), its glue in
# nif/crypto/. Every .c file in those directories is built in: a new part is new files.
CRYPTO_CORE_SRC := $(sort $(wildcard c_src/crypto/*.c))
CRYPTO_CORE_HDR := $(wildcard c_src/crypto/*.h)
CRYPTO_NIF_SRC := $(sort $(wildcard nif/crypto/*.c))
CRYPTO_CORE_OBJ := $(CRYPTO_CORE_SRC:c_src/crypto/%.c=build/crypto_core/%.o)
CRYPTO_NIF_OBJ := $(CRYPTO_NIF_SRC:nif/crypto/%.c=build/crypto_nif/%.o)
CRYPTO_SO := priv/lattice_crypto_nif.so
SODIUM_LIBS := -lsodium

.PHONY: all
all: $(NIF_SO) $(CRYPTO_SO) $(CNODE_BIN)

build/core/%.o: c_src/%.c | build/core
	$(CC) $(CORE_CFLAGS) $(DEPFLAGS) -c $< -o $@

build/nif/%.o: nif/%.c | build/nif
	@test -n "$(ERTS_INCLUDE_DIR)" || { echo "lattice: cannot find erl_nif.h: is erlang-dev installed and erl on PATH?" >&2; exit 1; }
	$(CC) $(GLUE_CFLAGS) $(DEPFLAGS) -c $< -o $@

build/crypto_core/%.o: c_src/crypto/%.c | build/crypto_core
	$(CC) $(CORE_CFLAGS) -Ic_src/crypto $(DEPFLAGS) -c $< -o $@

build/crypto_nif/%.o: nif/crypto/%.c | build/crypto_nif
	@test -n "$(ERTS_INCLUDE_DIR)" || { echo "lattice: cannot find erl_nif.h: is erlang-dev installed and erl on PATH?" >&2; exit 1; }
	$(CC) $(GLUE_CFLAGS) -Ic_src/crypto -Inif/crypto $(DEPFLAGS) -c $< -o $@

-include $(CORE_OBJ:.o=.d) $(NIF_OBJ:.o=.d) $(CRYPTO_CORE_OBJ:.o=.d) $(CRYPTO_NIF_OBJ:.o=.d)

$(CRYPTO_SO): $(CRYPTO_CORE_OBJ) $(CRYPTO_NIF_OBJ) | priv
	@printf '#include <sodium.h>\nint main(void){return sodium_init() < 0;}\n' | $(CC) -x c -o /dev/null - $(SODIUM_LIBS) 2>/dev/null || { echo "lattice: cannot link libsodium: is libsodium-dev installed? (make deps)" >&2; exit 1; }
	$(CC) -shared -fvisibility=hidden -o $@ $^ $(SODIUM_LIBS) -lpthread

$(NIF_SO): $(CORE_OBJ) $(NIF_OBJ) | priv
	$(CC) -shared -fvisibility=hidden -o $@ $^ -lpthread

# The C node links libsodium for its sealed sessions (c_src/crypto/lt_aeseal.c, compiled in;
# the CRDT NIF library stays without it).
CNODE_SEAL := c_src/crypto/lt_aeseal.c
$(CNODE_BIN): $(CNODE_SRC) $(CNODE_HDR) $(CORE_OBJ) $(CNODE_SEAL) c_src/crypto/lt_aeseal.h | priv
	@test -n "$(ERL_EI_LIBDIR)" || { echo "lattice: cannot find erl_interface (ei): is erlang-dev installed?" >&2; exit 1; }
	$(CC) $(CNODE_CFLAGS) -Ic_src/crypto -o $@ $(CNODE_SRC) $(CNODE_SEAL) $(CORE_OBJ) -L$(ERL_EI_LIBDIR) -lei $(SODIUM_LIBS) -lpthread

build/core build/nif build/crypto_core build/crypto_nif build/asan build/fuzz build/tools priv:
	mkdir -p $@

# Test tools: a misbehaving peer for the C node's tests (test/lattice_cnode_tests.erl).
ROGUE_BIN := build/tools/lt_rogue_peer
.PHONY: tools
tools: $(ROGUE_BIN)
$(ROGUE_BIN): test/tools/lt_rogue_peer.c $(CNODE_SEAL) c_src/crypto/lt_aeseal.h | build/tools
	$(CC) $(CNODE_CFLAGS) -Ic_src/crypto -Icnode -o $@ $< $(CNODE_SEAL) -L$(ERL_EI_LIBDIR) -lei $(SODIUM_LIBS) -lpthread

# ---------------------------------------------------------------------------------------------
# Tests

# Only nif_init may be exported from the NIF libraries (-fvisibility=hidden everywhere else),
# and only the crypto library may link libsodium.
.PHONY: check-exports
check-exports: $(NIF_SO) $(CRYPTO_SO)
	@set -e; for so in $(NIF_SO) $(CRYPTO_SO); do \
	  syms=$$(nm -D --defined-only $$so | awk '$$2 ~ /[TDBR]/ {print $$3}'); \
	  if [ "$$syms" != "nif_init" ]; then echo "unexpected exports from $$so: $$syms" >&2; exit 1; fi; \
	  echo "exports of $$so: nif_init only"; \
	done
	@if readelf -d $(NIF_SO) | grep -q 'libsodium'; then echo "$(NIF_SO) links libsodium: it must not" >&2; exit 1; fi

# The C core on its own, under ASan and UBSan.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
C_TESTS := $(patsubst test/c/%.c,build/asan/%,$(sort $(wildcard test/c/test_*.c)))
build/asan/%: test/c/%.c test/c/lt_test.h $(CORE_SRC) $(CORE_HDR) | build/asan
	$(CC) -std=c99 -O1 -g $(SAN) $(WARN) -Wno-missing-prototypes -Ic_src -Itest/c -o $@ $< $(CORE_SRC)

# The crypto core's tests (test/c/test_crypto_*.c) link it and libsodium (the shorter stem
# makes make pick this rule over the one above).
build/asan/test_crypto_%: test/c/test_crypto_%.c test/c/lt_test.h $(CORE_SRC) $(CORE_HDR) $(CRYPTO_CORE_SRC) $(CRYPTO_CORE_HDR) | build/asan
	$(CC) -std=c99 -O1 -g $(SAN) $(WARN) -Wno-missing-prototypes -Ic_src -Ic_src/crypto -Itest/c -o $@ $< $(CORE_SRC) $(CRYPTO_CORE_SRC) $(SODIUM_LIBS) -lpthread

.PHONY: c-test
c-test: $(C_TESTS)
	@set -e; for t in $(C_TESTS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

C_FILES := $(wildcard c_src/*.[ch] nif/*.[ch] c_src/crypto/*.[ch] nif/crypto/*.[ch] cnode/*.[ch] test/c/*.[ch] test/tools/*.c fuzz/*.c)

.PHONY: format-check
format-check:
	clang-format --dry-run --Werror $(C_FILES)
	mix format --check-formatted

.PHONY: format
format:
	clang-format -i $(C_FILES)
	mix format

.PHONY: eunit
# The telemetry tests load the real telemetry, compiled from $(ANCHORS) (an absolute path, as
# the tests run from another directory); without the anchors they print skipped.
eunit: all tools
	scripts/ensure-epmd.sh
	@mkdir -p _build
	@# A failure is printed where it happened, hundreds of lines up: on failure, print it again last.
	set -o pipefail; ANCHORS=$(abspath $(ANCHORS)) rebar3 eunit 2>&1 | tee _build/eunit.log || \
	  { echo "=== lattice: the failed EUnit tests, again ==="; \
	    grep -n -B3 -A25 -e '\*failed\*' -e '\*timed out\*' -e '\*\*\*context setup failed' -e 'cancelled' _build/eunit.log | head -300; exit 1; }

# The run is distributed from the start: distribution is global state, and ExUnit may run one
# module's setup_all on_exit (which would stop distribution it had started) while the next
# module runs, stopping it under that module and its C node.
.PHONY: exunit
exunit: all
	scripts/ensure-epmd.sh
	MIX_ENV=test elixir --sname lattice_exunit_$$$$ -S mix test

.PHONY: dialyzer
dialyzer: all
	rebar3 dialyzer

# API documentation: edoc (Debian's erlang-edoc) of the Erlang modules into doc/. The Elixir
# facade's @doc text is read with `h Lattice.ORSet` in IEx (ex_doc is not packaged).
.PHONY: docs
docs:
	erl -noshell -eval 'case edoc:application(lattice, ".", [{dir, "doc"}, {preprocess, true}, {includes, ["src"]}]) of ok -> halt(0); _ -> halt(1) end.'
	@echo "lattice: documentation in doc/index.html"

.PHONY: consumers
consumers: all
	scripts/consumers.sh

# Fuzzing: one libFuzzer target per decoder, a bounded run each (FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst fuzz/%.c,build/fuzz/%,$(sort $(wildcard fuzz/fuzz_*.c)))
build/fuzz/%: fuzz/%.c $(CORE_SRC) $(CORE_HDR) $(wildcard cnode/lt_*.[ch]) | build/fuzz
	clang -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ic_src -Icnode -o $@ $< $(CORE_SRC) $(wildcard cnode/lt_*.c)

# Decoders of the crypto core (fuzz/fuzz_crypto_*.c): with the crypto core and libsodium.
build/fuzz/fuzz_crypto_%: fuzz/fuzz_crypto_%.c $(CORE_SRC) $(CORE_HDR) $(CRYPTO_CORE_SRC) $(CRYPTO_CORE_HDR) | build/fuzz
	clang -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ic_src -Ic_src/crypto -o $@ $< $(CORE_SRC) $(CRYPTO_CORE_SRC) $(SODIUM_LIBS) -lpthread

# The sealed session decoder (fuzz/fuzz_cnode_sealed.c): the C node's decoders and the sealing
# helper, with libsodium.
build/fuzz/fuzz_cnode_sealed: fuzz/fuzz_cnode_sealed.c $(CORE_SRC) $(CORE_HDR) $(wildcard cnode/lt_*.[ch]) $(CNODE_SEAL) | build/fuzz
	clang -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ic_src -Ic_src/crypto -Icnode -o $@ $< $(CORE_SRC) $(wildcard cnode/lt_*.c) $(CNODE_SEAL) $(SODIUM_LIBS) -lpthread

.PHONY: fuzz
fuzz: $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$$(basename $$t); mkdir -p build/fuzz/corpus-$$name; \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  if ! $$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
	       -artifact_prefix=build/fuzz/$$name- build/fuzz/corpus-$$name fuzz/seeds/$$name \
	       > build/fuzz/$$name.log 2>&1; then \
	    tail -n 60 build/fuzz/$$name.log; echo "fuzz: $$name failed (log: build/fuzz/$$name.log)" >&2; exit 1; \
	  fi; \
	  grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec)" build/fuzz/$$name.log || tail -n 5 build/fuzz/$$name.log; \
	done

# Everything, assuming the Debian packages are present (make test installs them first).
.PHONY: check
check: all check-exports c-test format-check eunit exunit dialyzer consumers
	$(MAKE) fuzz FUZZ_SECONDS=20
	@echo "lattice: all checks passed"

.PHONY: deps
deps:
	scripts/install-deps.sh

# A fresh Debian 12 machine: install what is missing, then check everything.
.PHONY: test
test: deps
	$(MAKE) check

# make bench BENCH_GROUP=orset runs one group (see rows() in bench/lattice_bench.erl).
# The riak_dt rows time the real riak_dt beside lattice, in the same run. riak_dt is not part of
# lattice: RIAK_DT_EBIN names a directory of its compiled modules; left empty, the anchors'
# sources ($(ANCHORS): riak_dt and others, unmodified) are compiled into _build/anchors/ebin by
# their own build.sh, again only when a source is newer. With neither, those rows say skipped.
BENCH_GROUP ?= all
ANCHORS ?= ../shared/anchors
RIAK_DT_EBIN ?=
ANCHORS_EBIN := _build/anchors/ebin
ANCHORS_STAMP := _build/anchors/built

ifneq ($(RIAK_DT_EBIN),)
BENCH_RIAK_DT := $(RIAK_DT_EBIN)
else ifneq ($(wildcard $(ANCHORS)/build.sh),)
BENCH_RIAK_DT := $(ANCHORS_EBIN)
BENCH_ANCHORS := $(ANCHORS_STAMP)
endif

# Listing the anchors' sources costs a find: only for the targets that need it.
ifneq ($(filter bench $(ANCHORS_STAMP),$(MAKECMDGOALS)),)
ifneq ($(BENCH_ANCHORS),)
$(ANCHORS_STAMP): $(shell find $(ANCHORS) -type f \( -name '*.erl' -o -name '*.hrl' -o -name '*.ex' -o -name '*.app.src' -o -name build.sh \))
	rm -rf $(ANCHORS_EBIN)
	$(ANCHORS)/build.sh $(abspath _build/anchors)
	touch $@
endif
endif

# delta_crdt and merkle_map (in the anchors) are Elixir: the bench VM gets Elixir's own ebins.
BENCH_ELIXIR = $(foreach app,elixir logger,-pa $(shell elixir -e 'IO.puts(:code.lib_dir(:$(app)))' 2>/dev/null)/ebin)

.PHONY: bench
bench: deps
	$(MAKE) all $(BENCH_ANCHORS)
	rebar3 as bench compile
	scripts/ensure-epmd.sh
	@if [ -z "$(BENCH_RIAK_DT)" ]; then \
	  echo "lattice: no riak_dt to compare with ($(ANCHORS) not found): its rows print as skipped."; \
	  echo "  To time them: make bench RIAK_DT_EBIN=/path/to/riak_dt/ebin (riak_dt compiled with"; \
	  echo "  -Dnamespaced_types), or make bench ANCHORS=/path/to/anchors (a folder with build.sh)."; \
	elif [ ! -f "$(BENCH_RIAK_DT)/riak_dt_orswot.beam" ]; then \
	  echo "lattice: no riak_dt_orswot.beam in $(BENCH_RIAK_DT): the riak_dt rows print as skipped."; \
	fi
	erl -noshell -pa _build/bench/lib/lattice/ebin -pa _build/bench/lib/lattice/bench \
	  -pa _build/bench/lib/lattice/test -pa _build/bench/lib/lattice/test/support \
	  $(if $(BENCH_RIAK_DT),-pa $(BENCH_RIAK_DT)) $(BENCH_ELIXIR) \
	  -eval 'lattice_bench:main($(BENCH_GROUP)), halt().'

.PHONY: shell
shell: deps
	$(MAKE) all
	iex -S mix

# Three nodes with their C nodes on loopback, replicating the default store (demo/lattice_demo.erl).
.PHONY: demo
demo: deps
	$(MAKE) all
	rebar3 compile
	mkdir -p _build/demo
	erlc -Wall -o _build/demo demo/lattice_demo.erl
	scripts/ensure-epmd.sh
	erl -noshell -sname lattice_demo_$$$$ -pa _build/default/lib/lattice/ebin -pa _build/demo \
	  -eval 'lattice_demo:main().'

.PHONY: clean
clean:
	rm -rf build _build/*/lib/lattice priv/lattice_nif.so priv/lattice_crypto_nif.so priv/lattice_cnode
