// The admin console's protocol side: a logged-in client of the `pgbouncer` database reads
// and answers its own messages (no server connection), simple query protocol and extended
// protocol both, so drivers that only speak the extended one (psycopg 3, JDBC, pgx, Npgsql)
// can read the console too. What each statement does is the console_backend's business.
#include <boost/asio/write.hpp>
#include <cctype>
#include <map>

#include "pgwire/messages.hpp"
#include "session/client_session.hpp"
#include "session/console.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

/// The console's statements never need more than this; a longer message is refused.
constexpr std::uint32_t max_console_message = 1 << 20;

std::string_view trim_sql(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && (space(s.front()) || s.front() == ';')) s.remove_prefix(1);
  while (!s.empty() && (space(s.back()) || s.back() == ';')) s.remove_suffix(1);
  return s;
}

/// A simple Query's statements, split at semicolons outside quotes.
std::vector<std::string_view> split_statements(std::string_view sql) {
  std::vector<std::string_view> out;
  char quote = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      if (auto one = trim_sql(sql.substr(start, i - start)); !one.empty()) out.push_back(one);
      start = i + 1;
    }
  }
  if (auto one = trim_sql(sql.substr(start)); !one.empty()) out.push_back(one);
  return out;
}

void write_row_header(pgwire::byte_buffer& out, const console_result& r) {
  std::vector<pgwire::column_desc> cols;
  cols.reserve(r.columns.size());
  for (const auto& c : r.columns) {
    const std::int16_t len = c.type_oid == 20 ? 8 : c.type_oid == 23 ? 4 : c.type_oid == 16 ? 1 : -1;
    cols.push_back({c.name, c.type_oid, len});
  }
  pgwire::write_row_description(out, cols);
}

void write_rows(pgwire::byte_buffer& out, const console_result& r) {
  std::vector<std::optional<std::string_view>> values;
  for (const auto& row : r.rows) {
    values.clear();
    for (const auto& v : row) values.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
    pgwire::write_data_row(out, values);
  }
}

/// Everything a result sends after its RowDescription (if any): notices, rows, the tag, or
/// the error. False if it was an error.
bool write_result_body(pgwire::byte_buffer& out, const console_result& r) {
  for (const auto& n : r.notices)
    pgwire::write_error(out, "NOTICE", "00000", n, {}, pgwire::be::notice_response);
  if (!r.error.empty()) {
    pgwire::write_error(out, "ERROR", r.error_sqlstate, r.error);
    return false;
  }
  write_rows(out, r);
  pgwire::write_command_complete(out, r.tag);
  return true;
}

/// A prepared statement or portal of the console: its text and, once run for a Describe,
/// its result (Execute then sends that instead of running it again).
struct console_stmt {
  std::string sql;
  std::optional<console_result> result;
};

}  // namespace

awaitable<void> client_session::run_console(self_ptr self, console_user who) {
  client_session& c = *self;
  console_backend* backend = c.sh.set.console;
  std::map<std::string, console_stmt, std::less<>> statements, portals;
  bool skipping = false;  // an extended-protocol error: ignore messages until Sync
  pgwire::byte_buffer out;
  while (!c.closing()) {
    const auto r = co_await c.read_message(max_console_message);
    if (r.status != pgwire::frame_status::message) {
      if (r.error != pgwire::errc::truncated && !c.closing())
        co_await c.fatal("08P01", fmt::format("invalid console message: {}",
                                             make_error_code(r.error).message()));
      break;
    }
    c.last_client_io = clock::now();
    const pgwire::frame f = r.msg;
    bool close_after = false;
    if (f.tag == pgwire::fe::terminate) break;
    if (skipping && f.tag != pgwire::fe::sync) {
      c.consume(f.size);
      continue;
    }
    switch (f.tag) {
      case pgwire::fe::query: {
        pgwire::query_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Query message");
          co_return;
        }
        const std::string sql(m.sql);
        c.consume(f.size);
        const auto stmts = split_statements(sql);
        if (stmts.empty()) pgwire::write_bare(out, pgwire::be::empty_query_response);
        for (const auto one : stmts) {
          const console_result res = co_await backend->run(one, who, c.sh);
          if (!res.columns.empty() && res.error.empty()) write_row_header(out, res);
          close_after = close_after || res.close_after;
          if (!write_result_body(out, res)) break;  // the rest of the string is not run
        }
        pgwire::write_ready_for_query(out, 'I');
        break;
      }
      case pgwire::fe::parse: {
        pgwire::parse_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Parse message");
          co_return;
        }
        statements[std::string(m.name)] = console_stmt{std::string(trim_sql(m.sql)), {}};
        c.consume(f.size);
        pgwire::write_bare(out, pgwire::be::parse_complete);
        break;
      }
      case pgwire::fe::bind: {
        pgwire::bind_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Bind message");
          co_return;
        }
        auto it = statements.find(m.statement);
        if (it == statements.end()) {
          pgwire::write_error(out, "ERROR", "26000",
                              fmt::format("prepared statement \"{}\" does not exist", m.statement));
          skipping = true;
        } else if (m.nparams != 0) {
          pgwire::write_error(out, "ERROR", "08P01", "console statements take no parameters");
          skipping = true;
        } else {
          portals[std::string(m.portal)] = console_stmt{it->second.sql, {}};
          pgwire::write_bare(out, pgwire::be::bind_complete);
        }
        c.consume(f.size);
        break;
      }
      case pgwire::fe::describe: {
        pgwire::describe_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Describe message");
          co_return;
        }
        const std::string name(m.name);
        c.consume(f.size);
        auto& table = m.kind == 'S' ? statements : portals;
        auto it = table.find(name);
        if (it == table.end()) {
          pgwire::write_error(out, "ERROR", m.kind == 'S' ? "26000" : "34000",
                              fmt::format("{} \"{}\" does not exist",
                                          m.kind == 'S' ? "prepared statement" : "portal", name));
          skipping = true;
          break;
        }
        if (m.kind == 'S') pgwire::write_parameter_description(out, {});
        if (!backend->returns_rows(it->second.sql)) {
          pgwire::write_bare(out, pgwire::be::no_data);
          break;
        }
        // A SHOW's columns are known once it has run: run it now, and let Execute send
        // these rows (a statement's result is dropped: its portals run it again).
        console_result res = co_await backend->run(it->second.sql, who, c.sh);
        if (!res.error.empty()) {
          write_result_body(out, res);
          skipping = true;
          break;
        }
        write_row_header(out, res);
        if (m.kind == 'P') it->second.result = std::move(res);
        break;
      }
      case pgwire::fe::execute: {
        pgwire::execute_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Execute message");
          co_return;
        }
        auto it = portals.find(m.portal);
        c.consume(f.size);
        if (it == portals.end()) {
          pgwire::write_error(out, "ERROR", "34000",
                              fmt::format("portal \"{}\" does not exist", m.portal));
          skipping = true;
          break;
        }
        console_result res;
        if (it->second.result) {
          res = std::move(*it->second.result);
          it->second.result.reset();
        } else {
          res = co_await backend->run(it->second.sql, who, c.sh);
        }
        close_after = res.close_after;
        if (!write_result_body(out, res)) skipping = true;
        break;
      }
      case pgwire::fe::close: {
        pgwire::close_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) {
          co_await c.fatal("08P01", "invalid Close message");
          co_return;
        }
        (m.kind == 'S' ? statements : portals).erase(std::string(m.name));
        c.consume(f.size);
        pgwire::write_bare(out, pgwire::be::close_complete);
        break;
      }
      case pgwire::fe::sync:
        c.consume(f.size);
        skipping = false;
        portals.erase("");  // the unnamed portal ends with the implicit transaction
        pgwire::write_ready_for_query(out, 'I');
        break;
      case pgwire::fe::flush:
        c.consume(f.size);
        break;
      default:
        co_await c.fatal("08P01",
                         fmt::format("unsupported message type '{}' on the admin console", f.tag));
        co_return;
    }
    // Answers go out at once (a Flush is implied): nothing here is worth batching.
    if (!out.empty()) {
      const error_code ec = co_await net::write_all(c.sock, c.tls.get(), out);
      out.clear();
      if (ec) break;
    }
    if (close_after) break;
  }
}

}  // namespace sluice
