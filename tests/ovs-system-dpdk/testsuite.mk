# SPDX-License-Identifier: Apache-2.0
# Builds OVS's system-dpdk testsuite driver from the derived .at files of
# tests/ovs-system-dpdk/run.sh, with OVS's own rule (tests/automake.mk,
# $(SYSTEM_DPDK_TESTSUITE)) and variables.  Used as a second makefile in the
# configured OVS tree:
#
#   make -C OVS -f Makefile -f testsuite.mk NVH_SYSDPDK_DIR=DIR \
#        tests/system-dpdk-vhostuserclient-testsuite
#
# DIR holds tests/system-dpdk.at and tests/system-dpdk-macros.at; m4 finds
# them there first (autom4te runs in DIR, whose files it searches before
# the -I directories), every other .at in OVS's tree.  The result lives next
# to OVS's own drivers, so that it runs with "-C tests" on the tree's
# atconfig and atlocal, as "make check-dpdk" runs system-dpdk-testsuite.

NVH_SYSDPDK_SUITE = tests/system-dpdk-vhostuserclient-testsuite
NVH_SYSDPDK_AT = $(NVH_SYSDPDK_DIR)/tests/system-dpdk.at \
	$(NVH_SYSDPDK_DIR)/tests/system-dpdk-macros.at

$(NVH_SYSDPDK_SUITE): package.m4 $(SYSTEM_TESTSUITE_AT) $(COMMON_MACROS_AT) \
		tests/system-dpdk-testsuite.at $(NVH_SYSDPDK_AT)
	$(AM_V_GEN)cd '$(NVH_SYSDPDK_DIR)' && \
	  $(AUTOTEST) -I '$(abs_srcdir)' -o '$(abs_builddir)/$@.tmp' \
	    '$(abs_srcdir)/tests/system-dpdk-testsuite.at'
	$(AM_V_at)mv $@.tmp $@
