# SPDX-License-Identifier: Apache-2.0
# The Debian package netdev-vhost-switch, made by CPack's DEB generator from
# the install component "deb" (scripts/build-deb.sh, docs/install.md):
#
#   /usr/lib/netdev-vhost/sbin/ovs-vswitchd          our patched ovs-vswitchd
#   /usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost.so
#   /usr/share/doc/netdev-vhost-switch/{copyright,changelog.Debian.gz}
#
# The patched ovs-vswitchd looks for plugins in
# <its directory>/../lib/openvswitch/plugins (ovs-patches/0002), resolved
# from /proc/self/exe, so through the alternatives symlink
# /usr/sbin/ovs-vswitchd it still finds the plugin next to itself.  The
# maintainer scripts (packaging/deb/) register the binary as the
# ovs-vswitchd alternative with a priority above Debian's (openvswitch-switch
# 100, openvswitch-switch-dpdk 50) and withdraw it on removal.
#
# Depends: openvswitch-switch-dpdk and openvswitch-common of exactly the
# Debian version whose openvswitch-source the tree was built from (the
# database schema, ovs-ctl and the other tools come from them), plus the
# shared libraries found by dpkg-shlibdeps.
#
# Needs a tree configured with -DNVH_OVS_DEBIAN_PATHS=ON: ovs-vswitchd must
# look for the database, run and log directories where Debian's ovs-ctl puts
# them.  Only the targets "ovs" and "netdev_vhost_plugin" need to be built
# before "cpack --config <build>/CPackConfig.cmake".

if(NOT NVH_OVS_DEBIAN_PATHS)
  message(FATAL_ERROR "NVH_DEB_PACKAGE=ON needs -DNVH_OVS_DEBIAN_PATHS=ON: "
    "the packaged ovs-vswitchd must use Debian's paths")
endif()

set(NVH_DEB_NAME netdev-vhost-switch)
set(NVH_DEB_LIBDIR lib/netdev-vhost)
set(NVH_DEB_VSWITCHD /usr/${NVH_DEB_LIBDIR}/sbin/ovs-vswitchd)
set(NVH_DEB_PRIORITY 200 CACHE STRING
  "update-alternatives priority of our ovs-vswitchd (Debian's: 100 and 50)")

# The Debian version of the openvswitch-source package that holds the
# tarball, e.g. 3.1.0-2+deb12u1; its upstream part must be the tarball's.
find_program(NVH_DPKG_QUERY dpkg-query REQUIRED)
execute_process(
  COMMAND ${NVH_DPKG_QUERY} -S "${NVH_OVS_TARBALL}"
  OUTPUT_VARIABLE _owner RESULT_VARIABLE _rc ERROR_QUIET
  OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REGEX REPLACE ":.*" "" _owner "${_owner}")
if(NOT _rc EQUAL 0 OR NOT _owner STREQUAL "openvswitch-source")
  message(FATAL_ERROR "${NVH_OVS_TARBALL} does not belong to the Debian "
    "package openvswitch-source: the package's Depends could not name the "
    "Open vSwitch it was built from")
endif()
execute_process(
  COMMAND ${NVH_DPKG_QUERY} -W -f=\${Version} openvswitch-source
  OUTPUT_VARIABLE NVH_DEB_OVS_VERSION RESULT_VARIABLE _rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REGEX REPLACE "^([0-9]+:)?([^-]*)-.*$" "\\2" _upstream
       "${NVH_DEB_OVS_VERSION}")
if(NOT _rc EQUAL 0 OR NOT _upstream STREQUAL NVH_OVS_VERSION)
  message(FATAL_ERROR "openvswitch-source is '${NVH_DEB_OVS_VERSION}', "
    "the tarball says Open vSwitch ${NVH_OVS_VERSION}")
endif()
message(STATUS "Debian package ${NVH_DEB_NAME} for Open vSwitch "
               "${NVH_DEB_OVS_VERSION}")

# Version: ours, "+ovs" and the Debian version of Open vSwitch, then the
# package revision: 0.1.0+ovs3.1.0-2+deb12u1-1.  A rebuild for a newer
# openvswitch-source sorts higher, and so does a newer netdev-vhost.
string(REPLACE ":" "." _ovs_in_version "${NVH_DEB_OVS_VERSION}")
set(NVH_DEB_UPSTREAM_VERSION "${PROJECT_VERSION}+ovs${_ovs_in_version}")
set(NVH_DEB_REVISION 1)
set(NVH_DEB_VERSION "${NVH_DEB_UPSTREAM_VERSION}-${NVH_DEB_REVISION}")

# Maintainer: DEBFULLNAME/DEBEMAIL (as for dch), else git's user, else a
# placeholder.
set(_maint_name "$ENV{DEBFULLNAME}")
set(_maint_email "$ENV{DEBEMAIL}")
find_program(NVH_GIT git)
if(NVH_GIT AND (_maint_name STREQUAL "" OR _maint_email STREQUAL ""))
  execute_process(COMMAND ${NVH_GIT} -C "${PROJECT_SOURCE_DIR}" config user.name
    OUTPUT_VARIABLE _git_name OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND ${NVH_GIT} -C "${PROJECT_SOURCE_DIR}" config user.email
    OUTPUT_VARIABLE _git_email OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_maint_name STREQUAL "")
    set(_maint_name "${_git_name}")
  endif()
  if(_maint_email STREQUAL "")
    set(_maint_email "${_git_email}")
  endif()
endif()
if(_maint_name STREQUAL "" OR _maint_email STREQUAL "")
  set(_maint_name "netdev-vhost maintainers")
  set(_maint_email "maintainers@netdev-vhost.invalid")
endif()
set(NVH_DEB_MAINTAINER "${_maint_name} <${_maint_email}>" CACHE STRING
  "Maintainer field of the Debian package")

# changelog.Debian.gz, dated by the last commit (reproducible), compressed
# as Debian does (gzip -9n: no name, no time stamp).
set(_date "")
if(NVH_GIT)
  execute_process(COMMAND ${NVH_GIT} -C "${PROJECT_SOURCE_DIR}" log -1 --format=%aD
    OUTPUT_VARIABLE _date OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(_date STREQUAL "")
  string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
set(_deb_dir "${CMAKE_BINARY_DIR}/deb")
file(CONFIGURE OUTPUT "${_deb_dir}/changelog.Debian" CONTENT
"${NVH_DEB_NAME} (${NVH_DEB_VERSION}) unstable; urgency=medium

  * netdev-vhost ${PROJECT_VERSION} for Open vSwitch ${NVH_DEB_OVS_VERSION}
    (built from Debian's openvswitch-source with netdev-vhost's patches).

 -- ${NVH_DEB_MAINTAINER}  ${_date}
")
find_program(NVH_GZIP gzip REQUIRED)
execute_process(
  COMMAND ${NVH_GZIP} -9nc "${_deb_dir}/changelog.Debian"
  OUTPUT_FILE "${_deb_dir}/changelog.Debian.gz" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "gzip of ${_deb_dir}/changelog.Debian failed")
endif()

# Maintainer scripts.
foreach(script postinst prerm postrm)
  configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/${script}.in"
                 "${_deb_dir}/control/${script}" @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                                  GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()

# The files, all in component "deb", which a plain "cmake --install" leaves
# out.
install(PROGRAMS ${NVH_OVS_VSWITCHD}
  DESTINATION ${NVH_DEB_LIBDIR}/sbin COMPONENT deb EXCLUDE_FROM_ALL)
install(TARGETS netdev_vhost_plugin
  LIBRARY DESTINATION ${NVH_DEB_LIBDIR}/lib/openvswitch/plugins
          PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/deb/ovs-vswitchd-netdev-vhost.conf"
  DESTINATION lib/systemd/system/ovs-vswitchd.service.d
  RENAME netdev-vhost.conf
  COMPONENT deb EXCLUDE_FROM_ALL)
install(TARGETS netdev_vhost_keeper
  RUNTIME DESTINATION ${NVH_DEB_LIBDIR}/lib/openvswitch/plugins
  COMPONENT deb EXCLUDE_FROM_ALL)
# Stripped as dh_strip does: debug sections and symbols not needed for
# dynamic linking go.  ovs-vswitchd keeps its dynamic symbol table (linked
# with --export-dynamic, the plugin resolves OVS's functions from it).
find_program(NVH_STRIP NAMES strip REQUIRED)
install(CODE "
  foreach(f sbin/ovs-vswitchd lib/openvswitch/plugins/netdev-vhost.so
            lib/openvswitch/plugins/netdev-vhost-keeper)
    execute_process(
      COMMAND \"${NVH_STRIP}\" --remove-section=.comment --remove-section=.note
              --strip-unneeded
              \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${NVH_DEB_LIBDIR}/\${f}\"
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"strip \${f} failed\")
    endif()
  endforeach()" COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/deb/copyright"
              "${_deb_dir}/changelog.Debian.gz"
  DESTINATION share/doc/${NVH_DEB_NAME} COMPONENT deb EXCLUDE_FROM_ALL)

# cpack runs the "preinstall" target, which would build "all" (the unit
# tests and tools too): the package needs only what build-deb.sh built.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${NVH_DEB_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/package")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_NAME ${NVH_DEB_NAME})
set(CPACK_DEBIAN_PACKAGE_VERSION ${NVH_DEB_UPSTREAM_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE ${NVH_DEB_REVISION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NVH_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "openvswitch-switch-dpdk (= ${NVH_DEB_OVS_VERSION}), openvswitch-common (= ${NVH_DEB_OVS_VERSION})")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_ENHANCES openvswitch-switch-dpdk)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"Open vSwitch with the vhostuserclient port type (netdev-vhost)
An ovs-vswitchd with DPDK, built from Debian's Open vSwitch ${NVH_DEB_OVS_VERSION}
sources with the netdev-vhost patches, and the netdev-vhost plugin, which
adds the vhostuserclient port type: a vhost-user backend of its own for
QEMU and other virtio frontends, configured like dpdkvhostuserclient.

The binary is offered as the ovs-vswitchd alternative with a priority above
Debian's; removing the package gives /usr/sbin/ovs-vswitchd back to
openvswitch-switch-dpdk or openvswitch-switch. The database, ovs-ctl and
the other tools are Debian's.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${_deb_dir}/control/postinst" "${_deb_dir}/control/prerm"
  "${_deb_dir}/control/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
