// sluice: a PostgreSQL connection pooler, drop-in for pgbouncer's binary.
// Usage and flags follow pgbouncer: sluice [-d] [-q] [-v] [-u user] CONFIG
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "sluice/config.hpp"
#include "sluice/log.hpp"
#include "sluice/pooler.hpp"

// LeakSanitizer (ASan's or its own) checks at exit through atexit(), which _exit() below skips.
#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_HAS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SLUICE_HAS_LSAN 1
#endif
#endif
#ifdef SLUICE_HAS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

namespace {

void usage(const char* prog) {
  std::printf(
      "sluice is a PostgreSQL connection pooler.\n\n"
      "Usage:\n"
      "  %s [OPTION]... CONFIG_FILE\n\n"
      "Options:\n"
      "  -d, --daemon         run in background (as a daemon)\n"
      "  -q, --quiet          run quietly\n"
      "  -R, --reboot         restart: the running process finishes its transactions and\n"
      "                       leaves, then this one starts (no socket takeover)\n"
      "  -u, --user=USERNAME  assume identity of USERNAME\n"
      "  -v, --verbose        increase verbosity\n"
      "  -V, --version        show version, then exit\n"
      "      --check          check CONFIG_FILE (and its auth_file), list every error, exit\n"
      "      --convert-config print CONFIG_FILE (a pgbouncer.ini) as sluice.toml, exit\n"
      "  -h, --help           show this help, then exit\n\n"
      "CONFIG_FILE is a pgbouncer.ini, or a sluice.toml (by its .toml name); sluice-only\n"
      "settings go in a [sluice] section of either.\n",
      prog);
}

struct options {
  bool daemon = false, quiet = false, check = false, convert = false, reboot = false;
  int verbose = 0;
  std::string user, config;
};

/// Parses pgbouncer's flags; returns -1 to continue, else an exit status.
int parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& longname) -> std::string {
      if (a.rfind(longname + "=", 0) == 0) return a.substr(longname.size() + 1);
      if (i + 1 < argc) return argv[++i];
      std::fprintf(stderr, "sluice: option %s needs a value\n", a.c_str());
      std::exit(1);
    };
    if (a == "-h" || a == "--help") {
      usage(argv[0]);
      return 0;
    } else if (a == "-V" || a == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--convert-config") {
      o.convert = true;
    } else if (a == "-d" || a == "--daemon") {
      o.daemon = true;
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (a == "-v" || a == "--verbose") {
      ++o.verbose;
    } else if (a.size() > 2 && a[0] == '-' && a[1] == 'v' && a.find_first_not_of('v', 1) == std::string::npos) {
      o.verbose += int(a.size()) - 1;
    } else if (a == "-u" || a.rfind("--user", 0) == 0) {
      o.user = value("--user");
    } else if (a.rfind("-u", 0) == 0) {
      o.user = a.substr(2);
    } else if (a == "-R" || a == "--reboot") {
      o.reboot = true;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "sluice: unknown option %s\nTry \"sluice --help\" for more information.\n", a.c_str());
      return 1;
    } else if (o.config.empty()) {
      o.config = a;
    } else {
      std::fprintf(stderr, "sluice: too many arguments\n");
      return 1;
    }
  }
  if (o.config.empty()) {
    usage(argv[0]);
    return 1;
  }
  return -1;
}

bool switch_user(const std::string& name) {
  errno = 0;
  const passwd* pw = ::getpwnam(name.c_str());
  if (!pw) {
    sluice::log::log(sluice::log::level::fatal, "could not find user '{}' to switch to", name);
    return false;
  }
  if (::getuid() == pw->pw_uid) return true;
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    sluice::log::log(sluice::log::level::fatal, "could not switch to user '{}': {}", name, std::strerror(errno));
    return false;
  }
  return true;
}

bool write_pidfile(const std::string& path) {
  if (path.empty()) return true;
  {
    std::ifstream in(path);
    long old = 0;
    if (in >> old && old > 0 && ::kill(pid_t(old), 0) == 0) {
      sluice::log::log(sluice::log::level::fatal, "pidfile {} exists and process {} is running", path, old);
      return false;
    }
  }
  std::ofstream out(path, std::ios::trunc);
  out << ::getpid() << "\n";
  if (!out) {
    sluice::log::log(sluice::log::level::fatal, "could not write pidfile {}", path);
    return false;
  }
  return true;
}

bool daemonize() {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid > 0) ::_exit(0);
  ::setsid();
  const int fd = ::open("/dev/null", O_RDWR);
  if (fd >= 0) {
    ::dup2(fd, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (fd > 2) ::close(fd);
  }
  return true;
}

}  // namespace

/// --check: every error of the file and of its auth_file, one per line; 0 if there is none.
/// Runs as any user, root included: it only reads.
int check_config(const std::string& path) {
  std::vector<std::string> errors;
  try {
    sluice::config c = sluice::load_config(path);
    if (!c.auth_file.empty()) sluice::load_userlist(c.auth_file);
    sluice::prepare_tls(c);
  } catch (const sluice::config_error& e) {
    errors = e.all();
  } catch (const std::exception& e) {
    errors.emplace_back(e.what());
  }
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) return 1;
  std::printf("%s: configuration is valid\n", path.c_str());
  return 0;
}

namespace {

/// Reads one backend message (tag, body) from a blocking socket; false at EOF or error.
bool read_message(int fd, char& tag, std::string& body) {
  auto read_all = [fd](void* p, std::size_t n) {
    auto* b = static_cast<char*>(p);
    while (n > 0) {
      const ssize_t r = ::read(fd, b, n);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        return false;
      }
      b += r;
      n -= std::size_t(r);
    }
    return true;
  };
  unsigned char hdr[5];
  if (!read_all(hdr, 5)) return false;
  tag = static_cast<char>(hdr[0]);
  const std::uint32_t len = (std::uint32_t(hdr[1]) << 24) | (std::uint32_t(hdr[2]) << 16) |
                            (std::uint32_t(hdr[3]) << 8) | std::uint32_t(hdr[4]);
  if (len < 4 || len > 1 << 20) return false;
  body.resize(len - 4);
  return read_all(body.data(), body.size());
}

void put_message(std::string& out, char tag, const std::string& body) {
  if (tag) out.push_back(tag);
  const std::uint32_t len = std::uint32_t(body.size() + 4);
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((len >> shift) & 0xff));
  out += body;
}

/// -R. pgbouncer's online restart takes the running process's sockets over; sluice has no
/// socket takeover, so -R restarts in sequence instead: the process running with this
/// configuration (found on its Unix socket) is told SHUTDOWN WAIT_FOR_SERVERS on its
/// console (transactions in flight finish, idle clients are closed), and this one starts
/// once it has gone. With no process there it starts at once, as pgbouncer's -R does.
/// Returns false (said on stderr) if the running process could not be asked.
bool stop_running_process(const sluice::config& c) {
  if (c.unix_socket_dir.empty()) return true;  // nothing to find it by
  const std::string path = fmt::format("{}/.s.PGSQL.{}", c.unix_socket_dir, c.listen_port);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return true;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return true;  // no process listens there: a normal start
  }
  std::string out, startup = std::string("\0\3\0\0", 4);
  startup += std::string("user\0pgbouncer\0database\0pgbouncer\0\0", 35);
  put_message(out, 0, startup);
  put_message(out, 'Q', std::string("SHUTDOWN WAIT_FOR_SERVERS\0", 26));
  bool sent = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == ssize_t(out.size());
  // The console answers the login (as user pgbouncer from the same OS user: no password)
  // and the SHUTDOWN; the socket then stays open until the process exits.
  char tag = 0;
  std::string body;
  while (sent && read_message(fd, tag, body)) {
    if (tag == 'R' && body.size() >= 4 && body[3] != 0) {
      std::fprintf(stderr, "FATAL -R: the running process asks for a password; run -R as "
                           "the OS user it runs as\n");
      sent = false;
    } else if (tag == 'E') {
      std::fprintf(stderr, "FATAL -R: the running process refused SHUTDOWN\n");
      sent = false;
    }
  }
  ::close(fd);
  return sent;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (const int rc = parse_args(argc, argv, opt); rc >= 0) return rc;
  if (opt.check) return check_config(opt.config);
  if (opt.convert) {
    try {
      std::fputs(sluice::convert_ini_to_toml(opt.config).c_str(), stdout);
      return 0;
    } catch (const sluice::config_error& e) {
      for (const auto& one : e.all()) std::fprintf(stderr, "%s\n", one.c_str());
      return 1;
    }
  }

  std::shared_ptr<sluice::config> cfg;
  std::shared_ptr<sluice::userlist> users;
  try {
    cfg = std::make_shared<sluice::config>(sluice::load_config(opt.config));
    sluice::prepare_tls(*cfg);
  } catch (const sluice::config_error& e) {
    for (const auto& one : e.all()) std::fprintf(stderr, "FATAL %s\n", one.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FATAL %s\n", e.what());
    return 1;
  }
  if (opt.user.empty()) opt.user = cfg->user;
  if (::getuid() == 0 && opt.user.empty()) {
    std::fprintf(stderr, "FATAL sluice should not run as root; use -u USER (or user=) to switch to another user\n");
    return 1;
  }
  if (!opt.user.empty() && !switch_user(opt.user)) return 1;
  if (opt.daemon && cfg->logfile.empty()) {
    std::fprintf(stderr, "FATAL in daemon mode the logfile must be set\n");
    return 1;
  }
  sluice::log::setup(cfg->logfile, opt.quiet || opt.daemon, opt.verbose);
  sluice::log::set_verbose(cfg->verbose);
  sluice::log::set_syslog(cfg->syslog, cfg->syslog_ident, cfg->syslog_facility);
  try {
    users = std::make_shared<sluice::userlist>(cfg->auth_file.empty() ? sluice::userlist{}
                                                                      : sluice::load_userlist(cfg->auth_file));
  } catch (const std::exception& e) {
    sluice::log::log(sluice::log::level::fatal, "{}", e.what());
    return 1;
  }
  for (const auto& u : cfg->unsupported)
    sluice::log::warning("{}: not supported by this version of sluice, ignored", u);
  for (const auto& n : cfg->no_effect) sluice::log::warning("{}", n);

  // Signals are taken synchronously by one thread; every other thread has them blocked.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  if (opt.reboot) {
    sluice::log::info("online restart (-R): the running process finishes its transactions "
                      "and leaves, then this one starts");
    if (!stop_running_process(*cfg)) return 1;
  }
  if (opt.daemon && !daemonize()) return 1;
  if (!write_pidfile(cfg->pidfile)) return 1;

  auto pooler = sluice::make_pooler(cfg, users);
  try {
    pooler->start();
  } catch (const std::exception& e) {
    sluice::log::log(sluice::log::level::fatal, "{}", e.what());
    if (!cfg->pidfile.empty()) ::unlink(cfg->pidfile.c_str());
    return 1;
  }

  std::thread([&pooler, sigs]() {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) continue;
      switch (sig) {
        case SIGINT:
        case SIGTERM: {
          const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
          if (pooler->shutting_down()) {
            sluice::log::info("got {} while shutting down, fast exit", name);
            pooler->shutdown(sluice::shutdown_mode::immediate);
          } else if (sig == SIGINT) {
            sluice::log::info(
                "got SIGINT, shutting down, waiting for all servers connections to be released");
            pooler->shutdown(sluice::shutdown_mode::wait_for_servers);
          } else {
            sluice::log::info("got SIGTERM, shutting down, waiting for all clients disconnect");
            pooler->shutdown(sluice::shutdown_mode::wait_for_clients);
          }
          break;
        }
        case SIGQUIT:
          sluice::log::info("got SIGQUIT, fast exit");
          pooler->shutdown(sluice::shutdown_mode::immediate);
          break;
        case SIGHUP:
          sluice::log::reopen();
          sluice::log::info("got SIGHUP, re-reading config");
          pooler->reload_files();
          break;
        case SIGUSR1:
          if (pooler->pause() == sluice::pause_state::running)
            sluice::log::info("got SIGUSR1, pausing all activity");
          else
            sluice::log::info("got SIGUSR1, but already paused/suspended");
          break;
        case SIGUSR2:
          if (pooler->shutting_down()) {
            sluice::log::info("got SIGUSR2 while shutting down, ignoring");
            break;
          }
          switch (pooler->resume()) {
            case sluice::pause_state::paused:
              sluice::log::info("got SIGUSR2, continuing from PAUSE");
              break;
            case sluice::pause_state::running:
              sluice::log::info("got SIGUSR2, but not paused/suspended");
              break;
          }
          break;
        default:
          break;
      }
    }
  }).detach();

  pooler->wait();
  if (!cfg->pidfile.empty()) ::unlink(cfg->pidfile.c_str());
  // Leave without tearing down the shards' remaining sessions one by one.
  std::fflush(nullptr);
#ifdef SLUICE_HAS_LSAN
  // What is still live is reachable from `pooler` (this stack): only memory nothing points
  // to any more is reported. Without this call a leak in sluice could never be seen.
  // With detect_leaks=0 it does nothing; on a leak it exits non-zero itself.
  __lsan_do_leak_check();
#endif
  ::_exit(0);
}
