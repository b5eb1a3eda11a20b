// SHOW STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS. The numbers come from the control API's
// stats_keeper; every count, byte total and time is a numeric column, as in pgbouncer.
#include <utility>

#include "admin/admin.hpp"

namespace sluice {

namespace {

using field = stats_counters::field;

void add_counters(result_builder& b, const stats_counters& c) {
  for (field f : stats_counters::fields) b.add(c.*f);
}

void columns(result_builder& b, std::initializer_list<const char*> names) {
  b.text("database");
  for (const char* n : names) b.numeric(n);
}

}  // namespace

awaitable<console_result> admin_console::show_stats(const admin_request&) {
  result_builder b;
  columns(b, {"total_server_assignment_count", "total_xact_count", "total_query_count",
              "total_received", "total_sent", "total_xact_time", "total_query_time",
              "total_wait_time", "total_client_parse_count", "total_server_parse_count",
              "total_bind_count", "total_client_login_count", "avg_server_assignment_count",
              "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
              "avg_query_time", "avg_wait_time", "avg_client_parse_count",
              "avg_server_parse_count", "avg_bind_count", "avg_client_login_count"});
  for (const database_stats& d : ctl_.stats().snapshot()) {
    b.row().add(d.database);
    add_counters(b, d.total);
    add_counters(b, d.average);
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_stats_totals(const admin_request&) {
  result_builder b;
  b.text("database");
  for (const char* n : stats_counters::names) b.numeric(n);
  for (const database_stats& d : ctl_.stats().snapshot()) {
    b.row().add(d.database);
    add_counters(b, d.total);
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_stats_averages(const admin_request&) {
  result_builder b;
  columns(b, {"server_assignment_count", "xact_count", "query_count", "bytes_received",
              "bytes_sent", "xact_time", "query_time", "wait_time", "avg_client_parse_count",
              "avg_server_parse_count", "avg_bind_count", "avg_client_login_count"});
  for (const database_stats& d : ctl_.stats().snapshot()) {
    b.row().add(d.database);
    add_counters(b, d.average);
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_totals(const admin_request&) {
  // pgbouncer names these rows after its own struct members (client_bytes, ps_bind_count...).
  static constexpr std::pair<const char*, field> rows[] = {
      {"server_assignment_count", &stats_counters::server_assignment_count},
      {"xact_count", &stats_counters::xact_count},
      {"query_count", &stats_counters::query_count},
      {"client_bytes", &stats_counters::bytes_received},
      {"server_bytes", &stats_counters::bytes_sent},
      {"xact_time", &stats_counters::xact_time_us},
      {"query_time", &stats_counters::query_time_us},
      {"wait_time", &stats_counters::wait_time_us},
      {"ps_client_parse_count", &stats_counters::client_parse_count},
      {"ps_server_parse_count", &stats_counters::server_parse_count},
      {"ps_bind_count", &stats_counters::bind_count},
      {"client_login_count", &stats_counters::client_login_count},
  };
  const database_stats all = ctl_.stats().overall();
  result_builder b;
  b.text("name").numeric("value");
  for (const auto& [name, f] : rows) b.row().add(std::string("total_") + name).add(all.total.*f);
  for (const auto& [name, f] : rows) b.row().add(std::string("avg_") + name).add(all.average.*f);
  co_return b.done();
}

}  // namespace sluice
