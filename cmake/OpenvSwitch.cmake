# SPDX-License-Identifier: Apache-2.0
# Builds the patched Open vSwitch that hosts the plugin.
#
#   1. ovs_prepare: extract the release tarball into ${NVH_OVS_DIR}, apply
#      ovs-patches/*.patch in name order, ./boot.sh, ./configure.  Done again
#      from scratch only when the tarball, the content of the patches or the
#      configure arguments change (see cmake/ovs-prepare.cmake).
#   2. ovs: "make" of the few programs this project needs, incremental.
#
# Exposes to the rest of the project:
#   NVH_OVS_DIR            configured OVS tree (source and build, in-source)
#   NVH_OVS_VERSION        e.g. 3.1.0, the VERSION an ovs-vswitchd plugin must
#                          carry in ovs_plugin_ovs_version
#   NVH_OVS_VSWITCHD, NVH_OVSDB_SERVER, NVH_OVSDB_TOOL, NVH_OVS_VSCTL,
#   NVH_OVS_OFCTL, NVH_OVS_APPCTL   the programs in the build tree
#   NVH_OVS_SCHEMA         vswitchd/vswitch.ovsschema
#   target ovs             builds the programs above (and everything that code
#                          including OVS headers may need, e.g. generated
#                          headers)
#   target nvh::ovs_headers  INTERFACE: include directories and compile flags
#                          to compile C against the configured OVS tree the
#                          way OVS compiles its own code; depends on ovs.

set(NVH_OVS_TARBALL "/usr/src/openvswitch/openvswitch.tar.gz" CACHE FILEPATH
    "Open vSwitch release tarball (Debian package openvswitch-source)")
set(NVH_OVS_CONFIGURE_ARGS "--with-dpdk=shared;PYTHON3=/usr/bin/python3"
    CACHE STRING "Arguments for Open vSwitch's ./configure (;-separated)")
# Debian's paths (those of the openvswitch-switch/-common packages): the
# compiled-in run directory /var/run/openvswitch, database directory
# /etc/openvswitch, log directory /var/log/openvswitch and data directory
# /usr/share/openvswitch.  The .deb is built from a tree configured so
# (scripts/build-deb.sh, cmake/DebPackage.cmake); the default tree keeps
# OVS's defaults under /usr/local.
option(NVH_OVS_DEBIAN_PATHS
  "Configure Open vSwitch with Debian's paths (--prefix=/usr --localstatedir=/var --sysconfdir=/etc)"
  OFF)
set(NVH_OVS_DEBIAN_PATH_ARGS --prefix=/usr --localstatedir=/var --sysconfdir=/etc)
set(_nvh_ovs_configure_args ${NVH_OVS_CONFIGURE_ARGS})
if(NVH_OVS_DEBIAN_PATHS)
  list(APPEND _nvh_ovs_configure_args ${NVH_OVS_DEBIAN_PATH_ARGS})
endif()
set(NVH_OVS_DIR "${CMAKE_BINARY_DIR}/ovs")

if(NOT EXISTS "${NVH_OVS_TARBALL}")
  message(FATAL_ERROR "${NVH_OVS_TARBALL} not found: install the Debian "
    "package openvswitch-source (scripts/setup.sh does), set "
    "-DNVH_OVS_TARBALL=..., or configure with -DNVH_BUILD_OVS=OFF")
endif()

find_program(NVH_MAKE_PROGRAM NAMES make gmake REQUIRED)
find_program(NVH_PATCH_PROGRAM NAMES patch REQUIRED)
find_program(NVH_TAR_PROGRAM NAMES tar REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(DPDK REQUIRED libdpdk)

# The version, from the tarball's configure.ac, e.g.
# AC_INIT(openvswitch, 3.1.0, bugs@openvswitch.org).
execute_process(
  COMMAND ${NVH_TAR_PROGRAM} -xzOf "${NVH_OVS_TARBALL}" openvswitch/configure.ac
  OUTPUT_VARIABLE _nvh_ovs_configure_ac RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR NOT _nvh_ovs_configure_ac MATCHES
   "AC_INIT\\(openvswitch, ([0-9][^,)]*)")
  message(FATAL_ERROR "cannot read the version from ${NVH_OVS_TARBALL}")
endif()
set(NVH_OVS_VERSION "${CMAKE_MATCH_1}")
unset(_nvh_ovs_configure_ac)
message(STATUS "Open vSwitch ${NVH_OVS_VERSION} from ${NVH_OVS_TARBALL}")

# Patches, in name order.  Their combined hash (with the tarball's) is written to a file whose
# timestamp changes only when their content does: editing, adding or
# removing a patch re-runs CMake (CONFIGURE_DEPENDS), which rewrites the hash
# file, which re-runs ovs_prepare.
file(GLOB NVH_OVS_PATCHES CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/ovs-patches/*.patch")
list(SORT NVH_OVS_PATCHES)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${NVH_OVS_PATCHES})
file(SHA256 "${NVH_OVS_TARBALL}" _h)
set(_nvh_patch_digest "${_h}  tarball\n")
foreach(patch IN LISTS NVH_OVS_PATCHES)
  file(SHA256 "${patch}" _h)
  get_filename_component(_name "${patch}" NAME)
  string(APPEND _nvh_patch_digest "${_h}  ${_name}\n")
endforeach()
string(SHA256 NVH_OVS_PATCH_HASH "${_nvh_patch_digest}")
set(_nvh_ovs_stamp_dir "${CMAKE_BINARY_DIR}/ovs-stamp")
file(MAKE_DIRECTORY "${_nvh_ovs_stamp_dir}")
file(CONFIGURE OUTPUT "${_nvh_ovs_stamp_dir}/inputs.txt"
     CONTENT "${NVH_OVS_TARBALL}\n${_nvh_ovs_configure_args}\n${_nvh_patch_digest}")

# Lists travel to the script '|'-separated: a ';' would split the argument.
string(REPLACE ";" "|" _nvh_patches_arg "${NVH_OVS_PATCHES}")
string(REPLACE ";" "|" _nvh_configure_arg "${_nvh_ovs_configure_args}")
# The tree's record of its inputs is an output too, so that a removed
# build/ovs is recreated.
add_custom_command(
  OUTPUT "${_nvh_ovs_stamp_dir}/prepared.stamp" "${NVH_OVS_DIR}/.nvh-inputs"
  COMMAND ${CMAKE_COMMAND}
    "-DOVS_TARBALL=${NVH_OVS_TARBALL}"
    "-DOVS_DIR=${NVH_OVS_DIR}"
    "-DOVS_PATCHES=${_nvh_patches_arg}"
    "-DOVS_PATCH_HASH=${NVH_OVS_PATCH_HASH}"
    "-DOVS_CONFIGURE_ARGS=${_nvh_configure_arg}"
    "-DOVS_STAMP=${_nvh_ovs_stamp_dir}/prepared.stamp"
    -P "${PROJECT_SOURCE_DIR}/cmake/ovs-prepare.cmake"
  DEPENDS "${_nvh_ovs_stamp_dir}/inputs.txt" "${NVH_OVS_TARBALL}"
          ${NVH_OVS_PATCHES} "${PROJECT_SOURCE_DIR}/cmake/ovs-prepare.cmake"
  COMMENT "Preparing Open vSwitch ${NVH_OVS_VERSION} (extract, patch, configure)"
  VERBATIM)
add_custom_target(ovs_prepare DEPENDS "${_nvh_ovs_stamp_dir}/prepared.stamp")

set(NVH_OVS_VSWITCHD "${NVH_OVS_DIR}/vswitchd/ovs-vswitchd")
set(NVH_OVSDB_SERVER "${NVH_OVS_DIR}/ovsdb/ovsdb-server")
set(NVH_OVSDB_TOOL   "${NVH_OVS_DIR}/ovsdb/ovsdb-tool")
set(NVH_OVS_VSCTL    "${NVH_OVS_DIR}/utilities/ovs-vsctl")
set(NVH_OVS_OFCTL    "${NVH_OVS_DIR}/utilities/ovs-ofctl")
set(NVH_OVS_APPCTL   "${NVH_OVS_DIR}/utilities/ovs-appctl")
set(NVH_OVS_SCHEMA   "${NVH_OVS_DIR}/vswitchd/vswitch.ovsschema")
set(_nvh_ovs_programs
  vswitchd/ovs-vswitchd ovsdb/ovsdb-server ovsdb/ovsdb-tool
  utilities/ovs-vsctl utilities/ovs-ofctl utilities/ovs-appctl)

# Under a Makefile generator, $(MAKE) joins the top-level make's job server,
# so "cmake --build build -j2" bounds OVS's build too.  Elsewhere (Ninja)
# make runs with NVH_OVS_JOBS jobs.
if(CMAKE_GENERATOR MATCHES "Makefiles")
  set(_nvh_make "$(MAKE)")
else()
  cmake_host_system_information(RESULT _ncpu QUERY NUMBER_OF_LOGICAL_CORES)
  set(NVH_OVS_JOBS "${_ncpu}" CACHE STRING "Parallel jobs for OVS's make")
  set(_nvh_make ${NVH_MAKE_PROGRAM} -j${NVH_OVS_JOBS})
endif()
add_custom_target(ovs ALL
  # Generated headers first: automake builds them only for "make all".
  COMMAND ${_nvh_make} -f Makefile -f "${PROJECT_SOURCE_DIR}/cmake/ovs-extra.mk"
          nvh-built-sources
  COMMAND ${_nvh_make} ${_nvh_ovs_programs}
  WORKING_DIRECTORY "${NVH_OVS_DIR}"
  BYPRODUCTS ${NVH_OVS_VSWITCHD} ${NVH_OVSDB_SERVER} ${NVH_OVSDB_TOOL}
             ${NVH_OVS_VSCTL} ${NVH_OVS_OFCTL} ${NVH_OVS_APPCTL}
  COMMENT "Building Open vSwitch ${NVH_OVS_VERSION}"
  USES_TERMINAL)
add_dependencies(ovs ovs_prepare)

# How OVS compiles its own C (see AM_CPPFLAGS/AM_CFLAGS in OVS's Makefile.am
# and the DPDK section of its acinclude.m4): config.h from the configured
# tree, DPDK's pkg-config flags without the -march/-mno-avx512f that OVS
# strips, plus -mssse3.  Struct layouts must match ovs-vswitchd's exactly.
set(_nvh_dpdk_cflags "")
foreach(flag IN LISTS DPDK_CFLAGS_OTHER)
  if(NOT flag MATCHES "^-march=" AND NOT flag STREQUAL "-mno-avx512f")
    list(APPEND _nvh_dpdk_cflags "${flag}")
  endif()
endforeach()
# "-include rte_config.h" arrives as two list items; keep them together.
string(REPLACE "-include;" "SHELL:-include " _nvh_dpdk_cflags
       "${_nvh_dpdk_cflags}")
add_library(nvh_ovs_headers INTERFACE)
add_library(nvh::ovs_headers ALIAS nvh_ovs_headers)
target_include_directories(nvh_ovs_headers INTERFACE
  "${NVH_OVS_DIR}" "${NVH_OVS_DIR}/include" "${NVH_OVS_DIR}/lib"
  ${DPDK_INCLUDE_DIRS})
target_compile_definitions(nvh_ovs_headers INTERFACE
  HAVE_CONFIG_H _FILE_OFFSET_BITS=64)
include(CheckCCompilerFlag)
check_c_compiler_flag(-mssse3 NVH_HAVE_MSSSE3)
if(NVH_HAVE_MSSSE3)
  target_compile_options(nvh_ovs_headers INTERFACE -mssse3)
endif()
target_compile_options(nvh_ovs_headers INTERFACE ${_nvh_dpdk_cflags})
add_dependencies(nvh_ovs_headers ovs)

# Installed layout: <prefix>/sbin, <prefix>/bin, <prefix>/share/openvswitch
# and <prefix>/lib/openvswitch/plugins, which is where the patched
# ovs-vswitchd looks for plugins (relative to its own location).
install(PROGRAMS ${NVH_OVS_VSWITCHD} ${NVH_OVSDB_SERVER} DESTINATION sbin)
install(PROGRAMS ${NVH_OVSDB_TOOL} ${NVH_OVS_VSCTL} ${NVH_OVS_OFCTL}
                 ${NVH_OVS_APPCTL} DESTINATION bin)
install(FILES ${NVH_OVS_SCHEMA} DESTINATION share/openvswitch)
