// log.h: the core's log sink.  Every line goes to the handler installed with
// nvh_set_log_handler, or to stderr when none is installed.
#pragma once

#include "netdev-vhost/nvh.h"

namespace nvh {

// Installs `handler` (nullptr restores the stderr default).  Thread-safe.
void set_log_handler(nvh_log_fn* handler);

// Formats one line (no trailing newline needed) and hands it to the handler.
// Lines longer than 511 bytes are truncated.  Thread-safe; callable from the
// control thread; never called on the data path.
void log_message(nvh_log_level level, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

}  // namespace nvh
