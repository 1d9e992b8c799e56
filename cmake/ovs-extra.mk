# SPDX-License-Identifier: Apache-2.0
# Extra make targets for building only part of Open vSwitch.  Used as a
# second makefile:  make -f Makefile -f ovs-extra.mk nvh-built-sources
#
# Automake builds $(BUILT_SOURCES) (generated headers such as
# lib/vswitch-idl.h and include/odp-netlink.h) only for "make all", so they
# must be built first when only a few programs are requested.
nvh-built-sources: $(BUILT_SOURCES)
.PHONY: nvh-built-sources
