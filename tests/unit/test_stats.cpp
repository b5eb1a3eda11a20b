// The averaging arithmetic behind SHOW STATS_AVERAGES and log_stats.
#include "catch.hpp"
#include "control/stats_counters.hpp"

using sluice::stats_average;
using sluice::stats_counters;

TEST_CASE("stats_average: counts and bytes per second, truncated") {
  stats_counters then, now;
  then.xact_count = 100;
  now.xact_count = 700;  // 600 over 60 s
  now.query_count = 1799;  // 1799 over 60 s: 29.98/s -> 29
  now.bytes_received = 6000;
  now.bytes_sent = 60;  // 1/s
  now.client_parse_count = 59;  // under 1/s -> 0
  now.server_parse_count = 120;
  now.bind_count = 180;
  now.client_login_count = 240;
  now.server_assignment_count = 300;
  const stats_counters a = stats_average(now, then, 60'000'000);
  CHECK(a.xact_count == 10);
  CHECK(a.query_count == 29);
  CHECK(a.bytes_received == 100);
  CHECK(a.bytes_sent == 1);
  CHECK(a.client_parse_count == 0);
  CHECK(a.server_parse_count == 2);
  CHECK(a.bind_count == 3);
  CHECK(a.client_login_count == 4);
  CHECK(a.server_assignment_count == 5);
}

TEST_CASE("stats_average: times per query, per transaction, per server assignment") {
  stats_counters then, now;
  then.query_count = 10;
  then.query_time_us = 1000;
  now.query_count = 14;
  now.query_time_us = 1000 + 4 * 250;
  then.xact_count = 1;
  now.xact_count = 3;
  now.xact_time_us = 999;  // 999 / 2 -> 499
  now.server_assignment_count = 4;
  now.wait_time_us = 4000;
  const stats_counters a = stats_average(now, then, 1'000'000);
  CHECK(a.query_time_us == 250);
  CHECK(a.xact_time_us == 499);
  CHECK(a.wait_time_us == 1000);
  // The time a period took does not change a mean time.
  CHECK(stats_average(now, then, 7'000'000).query_time_us == 250);
}

TEST_CASE("stats_average: no queries, no time; no elapsed time, all zero") {
  stats_counters then, now;
  then.query_time_us = now.query_time_us = 5000;
  now.wait_time_us = 300;  // waits, but no server was assigned in the period
  const stats_counters a = stats_average(now, then, 1'000'000);
  CHECK(a == stats_counters{});
  now.xact_count = 50;
  CHECK(stats_average(now, then, 0) == stats_counters{});
  CHECK(stats_average(now, then, -5) == stats_counters{});
}

TEST_CASE("stats_average: a counter that went down counts as unchanged") {
  stats_counters then, now;
  then.xact_count = 500;  // the pool that held these was dropped
  now.xact_count = 20;
  then.bytes_sent = 10;
  now.bytes_sent = 30;
  const stats_counters a = stats_average(now, then, 1'000'000);
  CHECK(a.xact_count == 0);
  CHECK(a.bytes_sent == 20);
}

TEST_CASE("stats_average: large byte counts do not overflow") {
  stats_counters then, now;
  now.bytes_sent = std::uint64_t{1} << 60;  // * 1e6 does not fit 64 bits
  const stats_counters a = stats_average(now, then, 1'000'000);
  CHECK(a.bytes_sent == (std::uint64_t{1} << 60));
}

TEST_CASE("stats_counters: sum and the log line") {
  stats_counters x, y;
  x.xact_count = 1;
  x.wait_time_us = 2;
  y.xact_count = 3;
  y.client_login_count = 4;
  x += y;
  CHECK(x.xact_count == 4);
  CHECK(x.wait_time_us == 2);
  CHECK(x.client_login_count == 4);
  stats_counters a;
  a.xact_count = 1;
  a.query_count = 2;
  a.client_parse_count = 3;
  a.server_parse_count = 4;
  a.bind_count = 5;
  a.client_login_count = 6;
  a.bytes_received = 7;
  a.bytes_sent = 8;
  a.xact_time_us = 9;
  a.query_time_us = 10;
  a.wait_time_us = 11;
  CHECK(sluice::stats_log_line(a) ==
        "stats: 1 xacts/s, 2 queries/s, 3 client parses/s, 4 server parses/s, 5 binds/s, "
        "6 client logins/s, in 7 B/s, out 8 B/s, xact 9 us, query 10 us, wait 11 us");
}
