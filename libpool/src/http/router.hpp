#pragma once
// What an HTTP request asks for, decided from its method, target and Authorization header
// alone: which endpoint, with which ?database=, or the error status to answer with. No
// Asio, no Beast session: the fuzz target (tests/fuzz/fuzz_http.cpp) drives it with Beast's
// parser, and the unit tests call it directly.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::http {

enum class endpoint {
  healthz,  ///< GET: the process serves
  readyz,   ///< GET: listening, not paused, disabled or shutting down
  metrics,  ///< GET: Prometheus text format 0.0.4
  stats,    ///< GET: JSON, the data of SHOW POOLS/STATS/DATABASES/CLIENTS/SERVERS
  // POST, with the bearer token: the console's commands
  reload,
  pause,
  resume,
  reconnect,
  disable,
  enable,
  kill,
};

/// The console command a POST endpoint runs ("RELOAD", "PAUSE"...); "" for a GET one.
std::string_view command_name(endpoint e) noexcept;

enum class method { get, post, other };

struct route_result {
  std::optional<endpoint> ep;  ///< set: serve it; unset: answer `status` with `message`
  std::string database;        ///< ?database=, empty if not given
  unsigned status = 200;
  std::string message;
  std::string_view allow;  ///< 405: the one method the path takes
  bool challenge = false;  ///< 401: send WWW-Authenticate: Bearer
};

/// Routes a request. `token` is the configured bearer token, or nullptr when no
/// http_auth_token_file is set (POSTs are then refused with 403). Checks, in order: the
/// target parses (400), the path exists (404), the method fits it (405), the query has only
/// what the endpoint takes (400), the token (403 / 401).
route_result route(method m, std::string_view target, std::string_view authorization,
                   const std::string* token);

/// Compares a presented token with the configured one in time that depends only on their
/// lengths, not on where they differ.
bool token_matches(std::string_view presented, std::string_view token) noexcept;

/// Reads a bearer token file: its content without trailing white space. Throws
/// std::runtime_error (naming the file, never the content) if it cannot be read or is empty.
std::string load_token(const std::string& path);

}  // namespace sluice::http
