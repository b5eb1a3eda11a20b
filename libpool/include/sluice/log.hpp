#pragma once
/// @file log.hpp
/// Logging in pgbouncer's line format ("2024-01-01 12:00:00.000 UTC [pid] LOG C-0x...: ..."),
/// so log parsers written for pgbouncer keep working. Thread-safe; one line per call.

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace sluice::log {

enum class level { fatal, error, warning, log, debug, noise };

/// Where lines go: stderr (unless quiet) and the logfile (if any). Called once at startup;
/// `verbose` is the command line's -v count, below which set_verbose never goes.
void setup(const std::string& logfile, bool quiet, int verbose);
/// The `verbose` setting (at start, on RELOAD and SET): debug lines from 1, noise from 2, or
/// the command line's -v count if that is more.
void set_verbose(int configured);
/// Sends lines to syslog(3) as well, or stops (pgbouncer's syslog, syslog_ident,
/// syslog_facility): levels fatal..log, as pgbouncer does (debug and noise stay out), with
/// priorities CRIT, ERR, WARNING, INFO, and the message alone (syslog adds time, ident and
/// pid). A changed ident or facility reopens the connection (closelog, openlog). Returns false,
/// changing nothing, for a facility syslog_facility_code does not know.
bool set_syslog(bool enabled, std::string_view ident, std::string_view facility);
/// The syslog(3) facility for one of pgbouncer's names (auth, authpriv, daemon, user,
/// local0..local7; case-insensitive), or -1.
int syslog_facility_code(std::string_view name) noexcept;
/// Reopens the logfile (after rotation, on SIGHUP).
void reopen();
bool enabled(level l) noexcept;
void write(level l, std::string_view text);

template <class... Args>
void log(level l, fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(l)) write(l, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  log(level::log, f, std::forward<Args>(args)...);
}
template <class... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  log(level::warning, f, std::forward<Args>(args)...);
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  log(level::error, f, std::forward<Args>(args)...);
}
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  log(level::debug, f, std::forward<Args>(args)...);
}

}  // namespace sluice::log
