# SPDX-License-Identifier: Apache-2.0
# CTest "ovs_plugin_loader": the patched ovs-vswitchd loads netdev-vhost.so,
# refuses a plugin built for another Open vSwitch version and keeps running
# (cmake/plugin-loader-test.sh).  Needs no hugepages and no guest.
if(NOT TARGET netdev_vhost_plugin)
  return()
endif()

set(_dir "${CMAKE_BINARY_DIR}/plugin-loader-test")
file(CONFIGURE OUTPUT "${_dir}/wrong-version.c" CONTENT [[
/* A plugin that claims another Open vSwitch version: must be refused. */
__attribute__((visibility("default")))
const char ovs_plugin_ovs_version[] = "0.0.0";

__attribute__((visibility("default"))) void ovs_plugin_init(void);

void
ovs_plugin_init(void)
{
}
]])
add_library(nvh_wrong_version_plugin MODULE "${_dir}/wrong-version.c")
set_target_properties(nvh_wrong_version_plugin PROPERTIES
  OUTPUT_NAME wrong-version PREFIX "" LIBRARY_OUTPUT_DIRECTORY "${_dir}")

add_test(NAME ovs_plugin_loader
  COMMAND "${PROJECT_SOURCE_DIR}/cmake/plugin-loader-test.sh"
          "${NVH_OVS_DIR}" $<TARGET_FILE:netdev_vhost_plugin>
          $<TARGET_FILE:nvh_wrong_version_plugin>)
set_tests_properties(ovs_plugin_loader PROPERTIES RUN_SERIAL TRUE TIMEOUT 120)
