# SPDX-License-Identifier: Apache-2.0
# cmake -DLINK_TXT=<target>.dir/link.txt -P CheckLtoLink.cmake: fails unless
# the link line links with link-time optimisation (-flto), so that a build
# that is meant to inline the core into the plugin really does.
if(NOT EXISTS "${LINK_TXT}")
  message(FATAL_ERROR "no link line at ${LINK_TXT}")
endif()
file(READ "${LINK_TXT}" _link)
if(NOT _link MATCHES "(^| )-flto")
  message(FATAL_ERROR "the link line has no -flto: ${_link}")
endif()
message(STATUS "link-time optimisation on the link line: ${LINK_TXT}")
