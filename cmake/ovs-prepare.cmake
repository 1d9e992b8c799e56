# SPDX-License-Identifier: Apache-2.0
# Prepares the Open vSwitch source tree used by the build:
#   extract the release tarball, apply the patches in order, regenerate the
#   build system (the patches touch automake.mk files) and run configure.
#
# Run with cmake -P and these variables:
#   OVS_TARBALL      release tarball whose top directory is openvswitch/
#   OVS_DIR          tree to create (removed first)
#   OVS_PATCHES      |-separated list of patches, applied in list order
#   OVS_PATCH_HASH   hash of the patches, recorded in OVS_DIR
#   OVS_CONFIGURE_ARGS  |-separated arguments for ./configure
#   OVS_STAMP        file to touch on success

foreach(var OVS_TARBALL OVS_DIR OVS_PATCH_HASH OVS_STAMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "ovs-prepare.cmake: ${var} is not set")
  endif()
endforeach()

string(REPLACE "|" ";" OVS_PATCHES "${OVS_PATCHES}")
string(REPLACE "|" ";" OVS_CONFIGURE_ARGS "${OVS_CONFIGURE_ARGS}")

function(run what)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${OVS_DIR}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "Open vSwitch: ${what} failed (${rc})")
  endif()
endfunction()

# The tree is configured from these inputs; skip the (slow) rebuild from
# scratch when nothing changed, e.g. when a patch file was only touched.
set(inputs "${OVS_TARBALL}\n${OVS_PATCH_HASH}\n${OVS_CONFIGURE_ARGS}\n")
set(inputs_file "${OVS_DIR}/.nvh-inputs")
if(EXISTS "${inputs_file}" AND EXISTS "${OVS_DIR}/config.status")
  file(READ "${inputs_file}" old_inputs)
  if(old_inputs STREQUAL inputs)
    message(STATUS "Open vSwitch: ${OVS_DIR} is up to date")
    file(TOUCH "${inputs_file}" "${OVS_STAMP}")
    return()
  endif()
endif()

message(STATUS "Open vSwitch: extracting ${OVS_TARBALL}")
file(REMOVE_RECURSE "${OVS_DIR}" "${OVS_DIR}.tmp")
file(MAKE_DIRECTORY "${OVS_DIR}.tmp")
execute_process(
  COMMAND tar --no-same-owner -xzf "${OVS_TARBALL}"
  WORKING_DIRECTORY "${OVS_DIR}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT EXISTS "${OVS_DIR}.tmp/openvswitch/configure.ac")
  message(FATAL_ERROR "Open vSwitch: cannot extract ${OVS_TARBALL}")
endif()
file(RENAME "${OVS_DIR}.tmp/openvswitch" "${OVS_DIR}")
file(REMOVE_RECURSE "${OVS_DIR}.tmp")

foreach(patch IN LISTS OVS_PATCHES)
  message(STATUS "Open vSwitch: applying ${patch}")
  run("patch ${patch}" patch -p1 --forward --batch --no-backup-if-mismatch
      -i "${patch}")
endforeach()

message(STATUS "Open vSwitch: ./boot.sh")
run("boot.sh" ./boot.sh)
list(JOIN OVS_CONFIGURE_ARGS " " _args)
message(STATUS "Open vSwitch: ./configure ${_args}")
run("configure" ./configure ${OVS_CONFIGURE_ARGS})

file(WRITE "${inputs_file}" "${inputs}")
file(TOUCH "${OVS_STAMP}")
