#include "sluice/log.hpp"

#include <sys/time.h>
#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>

namespace sluice::log {
namespace {

struct sink {
  std::mutex mu;
  std::string path;
  std::FILE* file = nullptr;
  bool quiet = false;
  int cli_verbose = 0;              ///< -v given on the command line: a floor
  std::atomic<int> verbose{0};      ///< read by every shard's log calls
  // syslog: openlog keeps a pointer to the ident, so the string lives here while it is open.
  bool syslog_open = false;
  std::string syslog_ident;
  int syslog_facility = LOG_DAEMON;
};
sink& the_sink() {
  static sink s;
  return s;
}

/// The process id each line shows, read once (a syscall per line otherwise) and again in a
/// child after fork (-d daemonizes after logging has started).
std::atomic<pid_t> cached_pid{0};
pid_t current_pid() {
  pid_t p = cached_pid.load(std::memory_order_relaxed);
  if (p != 0) return p;
  static std::once_flag at_fork;
  std::call_once(at_fork, [] {
    ::pthread_atfork(nullptr, nullptr, [] { cached_pid.store(0, std::memory_order_relaxed); });
  });
  p = ::getpid();
  cached_pid.store(p, std::memory_order_relaxed);
  return p;
}

const char* name(level l) {
  switch (l) {
    case level::fatal: return "FATAL";
    case level::error: return "ERROR";
    case level::warning: return "WARNING";
    case level::log: return "LOG";
    case level::debug: return "DEBUG";
    case level::noise: return "NOISE";
  }
  return "LOG";
}

int syslog_priority(level l) {
  switch (l) {
    case level::fatal: return LOG_CRIT;
    case level::error: return LOG_ERR;
    case level::warning: return LOG_WARNING;
    case level::log: return LOG_INFO;
    case level::debug:
    case level::noise: return LOG_DEBUG;
  }
  return LOG_INFO;
}

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

int syslog_facility_code(std::string_view name) noexcept {
  static constexpr std::pair<std::string_view, int> names[] = {
      {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON},
      {"user", LOG_USER},     {"local0", LOG_LOCAL0},     {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},     {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},     {"local7", LOG_LOCAL7}};
  for (const auto& [n, code] : names) {
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size() && same; ++i) same = n[i] == ascii_lower(name[i]);
    if (same) return code;
  }
  return -1;
}

bool set_syslog(bool enabled, std::string_view ident, std::string_view facility) {
  const int code = syslog_facility_code(facility);
  if (code < 0) return false;
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  if (s.syslog_open && enabled && s.syslog_ident == ident && s.syslog_facility == code)
    return true;
  if (s.syslog_open) {
    ::closelog();
    s.syslog_open = false;
  }
  if (!enabled) return true;
  s.syslog_ident.assign(ident);
  s.syslog_facility = code;
  ::openlog(s.syslog_ident.c_str(), LOG_PID, code);
  s.syslog_open = true;
  return true;
}

void setup(const std::string& logfile, bool quiet, int verbose) {
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  s.quiet = quiet;
  s.cli_verbose = verbose;
  s.verbose.store(verbose, std::memory_order_relaxed);
  s.path = logfile;
  if (s.file) std::fclose(s.file);
  s.file = logfile.empty() ? nullptr : std::fopen(logfile.c_str(), "a");
  if (!logfile.empty() && !s.file)
    std::fprintf(stderr, "could not open logfile %s\n", logfile.c_str());
}

void set_verbose(int configured) {
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  s.verbose.store(std::max(s.cli_verbose, configured), std::memory_order_relaxed);
}

void reopen() {
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  if (s.path.empty()) return;
  if (s.file) std::fclose(s.file);
  s.file = std::fopen(s.path.c_str(), "a");
}

bool enabled(level l) noexcept {
  const int v = the_sink().verbose.load(std::memory_order_relaxed);
  return l <= level::log || (l == level::debug && v >= 1) || (l == level::noise && v >= 2);
}

void write(level l, std::string_view text) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  std::tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
  const std::string line = fmt::format("{}.{:03d} UTC [{}] {} {}\n", ts, int(tv.tv_usec / 1000),
                                       current_pid(), name(l), text);
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  if (!s.quiet) std::fwrite(line.data(), 1, line.size(), stderr);
  if (s.file) {
    std::fwrite(line.data(), 1, line.size(), s.file);
    std::fflush(s.file);
  }
  if (s.syslog_open && l <= level::log)
    ::syslog(syslog_priority(l), "%.*s", static_cast<int>(text.size()), text.data());
}

}  // namespace sluice::log
