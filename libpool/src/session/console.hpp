#pragma once
// The admin console as a client session sees it: the session speaks the protocol (simple and
// extended) on the client socket; what a statement means is up to a console_backend, which
// lives above the session layer (admin/) and is installed in the shard_set by the runtime.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shard/io.hpp"

namespace sluice {

struct shard;

struct console_column {
  std::string name;
  std::int32_t type_oid = 25;  ///< text; 20 = int8, 23 = int4, 16 = bool, 1700 = numeric
};
using console_value = std::optional<std::string>;  ///< nullopt = SQL NULL

/// What one console statement answers: rows (SHOW), a command tag (PAUSE, RELOAD...), or an
/// error.
struct console_result {
  std::vector<console_column> columns;  ///< empty: a command that returns no rows
  std::vector<std::vector<console_value>> rows;
  std::string tag;  ///< CommandComplete: "SHOW", "PAUSE", ...
  std::string error_sqlstate, error;  ///< error non-empty: an ErrorResponse instead
  std::vector<std::string> notices;   ///< NoticeResponses sent before the result
  bool close_after = false;           ///< the session ends once this is sent

  static console_result failure(std::string sqlstate, std::string message) {
    console_result r;
    r.error_sqlstate = std::move(sqlstate);
    r.error = std::move(message);
    return r;
  }
};

/// Who runs a console statement.
struct console_user {
  std::string name;
  bool admin = false;  ///< admin_users (or the pgbouncer user over the socket); else stats only
  std::uint64_t session_id = 0;  ///< the console session's own id (SHOW CLIENTS "id")
};

struct console_backend {
  virtual ~console_backend() = default;
  /// Whether `sql` returns rows: what Describe answers (RowDescription or NoData) before it
  /// runs. Must not act.
  virtual bool returns_rows(std::string_view sql) const = 0;
  /// Runs one statement (no trailing ';') on behalf of `who`, from a coroutine on `home`.
  virtual awaitable<console_result> run(std::string_view sql, const console_user& who,
                                        shard& home) = 0;
  /// A client has logged into the console on `home` (its SHOW STATS client_login_count).
  virtual void logged_in(shard& home) { (void)home; }
};

}  // namespace sluice
