#include "sluice/log.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <mutex>

namespace sluice::log {
namespace {

struct sink {
  std::mutex mu;
  std::string path;
  std::FILE* file = nullptr;
  bool quiet = false;
  int verbose = 0;
};
sink& the_sink() {
  static sink s;
  return s;
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

}  // namespace

void setup(const std::string& logfile, bool quiet, int verbose) {
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  s.quiet = quiet;
  s.verbose = verbose;
  s.path = logfile;
  if (s.file) std::fclose(s.file);
  s.file = logfile.empty() ? nullptr : std::fopen(logfile.c_str(), "a");
  if (!logfile.empty() && !s.file)
    std::fprintf(stderr, "could not open logfile %s\n", logfile.c_str());
}

void reopen() {
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  if (s.path.empty()) return;
  if (s.file) std::fclose(s.file);
  s.file = std::fopen(s.path.c_str(), "a");
}

bool enabled(level l) noexcept {
  const int v = the_sink().verbose;
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
                                       ::getpid(), name(l), text);
  sink& s = the_sink();
  std::lock_guard lk(s.mu);
  if (!s.quiet) std::fwrite(line.data(), 1, line.size(), stderr);
  if (s.file) {
    std::fwrite(line.data(), 1, line.size(), s.file);
    std::fflush(s.file);
  }
}

}  // namespace sluice::log
