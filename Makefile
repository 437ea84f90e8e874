# SPDX-License-Identifier: GPL-2.0-or-later
# vrc: top-level build. `make` builds everything, `make check` runs all tests,
# `make demo` runs the demo. Everything lands under build/.

SHELL := /bin/bash
TOP := $(CURDIR)
B := $(TOP)/build
QSRC := $(B)/qemu-src
QBLD := $(B)/qemu
HOST := $(B)/host
FUZZ := $(B)/fuzz

QEMU_TARBALL := $(B)/download/qemu_10.0.2+ds.orig.tar.xz
QEMU_PATCHES := $(addprefix qemu-patches/,$(shell grep -v '^\#' qemu-patches/series))
QEMU_CONFIGURE := --target-list=x86_64-softmmu --without-default-features \
	--disable-install-blobs --enable-kvm --enable-tcg --enable-slirp \
	--enable-fdt=system --disable-docs --disable-werror \
	--python=/usr/bin/python3 --firmwarepath=/usr/share/qemu:/usr/share/seabios
# What `make` builds inside the QEMU tree.
QEMU_TARGETS := qemu-system-x86_64 tests/qtest/vrc-test

export CCACHE_DIR ?= $(HOME)/.cache/ccache

.PHONY: all deps qemu host fuzz guest check demo bench bench-configd compat clean distclean FORCE

all: qemu host guest

deps: $(B)/.deps-installed
$(B)/.deps-installed: scripts/install-deps.sh
	bash scripts/install-deps.sh $@

$(QEMU_TARBALL): | $(B)/.deps-installed
	bash scripts/fetch-qemu.sh $(B)/download

$(B)/.qemu-patched: $(QEMU_TARBALL) qemu-patches/series $(QEMU_PATCHES) scripts/prepare-qemu.sh
	bash scripts/prepare-qemu.sh $(QEMU_TARBALL) $(QSRC)
	touch $@

# The configure flags, rewritten only when they change, so that editing
# this Makefile does not reconfigure QEMU.
$(B)/qemu-configure-flags: FORCE
	@mkdir -p $(B)
	@echo '$(QEMU_CONFIGURE)' | cmp -s - $@ || echo '$(QEMU_CONFIGURE)' > $@

$(B)/.qemu-configured: $(B)/.qemu-patched $(B)/qemu-configure-flags
	bash scripts/link-sources.sh $(QSRC)
	rm -rf $(QBLD) && mkdir -p $(QBLD)
	cd $(QBLD) && $(QSRC)/configure $(QEMU_CONFIGURE)
	touch $@

qemu: $(B)/.qemu-configured
	bash scripts/link-sources.sh $(QSRC)
	ninja -C $(QBLD) $(QEMU_TARGETS)
	bash scripts/link-firmware.sh $(QBLD)
	ln -sfn qemu/qemu-system-x86_64 $(B)/qemu-system-x86_64

host: $(B)/.deps-installed
	[ -f $(HOST)/build.ninja ] || meson setup $(HOST) $(TOP)
	ninja -C $(HOST)

guest: $(B)/.deps-installed
	bash scripts/build-guest.sh $(B)/guest

fuzz: $(B)/.deps-installed
	[ -f $(FUZZ)/build.ninja ] || CC=clang meson setup $(FUZZ) $(TOP) \
		-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
	ninja -C $(FUZZ)

check: all fuzz
	bash scripts/run-tests.sh

demo: all
	bash scripts/demo.sh

bench: all
	bash scripts/bench.sh
	bash scripts/bench-configd.sh

# configd alone at scale (1000 simulated endpoint functions); no QEMU needed.
bench-configd: host
	bash scripts/bench-configd.sh

compat: all
	bash scripts/compat-table.sh

clean:
	rm -rf $(HOST) $(FUZZ)
	[ ! -d $(QBLD) ] || ninja -C $(QBLD) clean

distclean:
	rm -rf $(B)
