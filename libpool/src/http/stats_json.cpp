#include "http/stats_json.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sluice::http {

namespace json = boost::json;

namespace {

json::value text_or_null(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

std::string iso_utc(std::chrono::system_clock::time_point t) {
  // fmt 9 prints a system_clock time point in local time: go through gmtime explicitly.
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

json::object counters(const stats_counters& c) {
  json::object o;
  for (std::size_t i = 0; i < std::size(stats_counters::fields); ++i)
    o[stats_counters::names[i]] = c.*stats_counters::fields[i];
  return o;
}

json::object connection(const connection_info& c) {
  json::object o;
  o["type"] = c.server ? "S" : "C";
  o["user"] = c.user;
  o["database"] = c.database;
  o["state"] = list_state(c);
  o["addr"] = c.addr;
  o["port"] = c.port;
  o["local_addr"] = c.local_addr;
  o["local_port"] = c.local_port;
  o["connect_time"] = iso_utc(c.connect_time);
  o["request_time"] = iso_utc(c.request_time);
  o["wait_us"] = c.wait_us;
  o["close_needed"] = c.close_needed;
  o["ptr"] = c.ptr;
  o["link"] = text_or_null(c.link);
  o["remote_pid"] = c.remote_pid;
  o["application_name"] = c.application_name;
  o["tls"] = c.tls;
  o["prepared_statements"] = c.prepared_statements;
  o["id"] = c.id;
  o["shard"] = c.shard;
  return o;
}

}  // namespace

std::string render_stats(const stats_input& in) {
  json::object root;
  root["version"] = in.version;
  root["paused"] = in.state.paused;
  root["shutting_down"] = in.state.shutting_down;

  json::array& pools = root["pools"].emplace_array();
  for (const pool_info& p : in.pools) {
    json::object o;
    o["database"] = p.database;
    o["user"] = p.user;
    o["cl_active"] = p.cl_active;
    o["cl_waiting"] = p.cl_waiting;
    o["sv_active"] = p.sv_active;
    o["sv_idle"] = p.sv_idle;
    o["sv_used"] = p.sv_used;
    o["sv_tested"] = p.sv_tested;
    o["sv_login"] = p.sv_login;
    o["maxwait_us"] = p.maxwait_us;
    o["pool_mode"] = to_string(p.mode);
    pools.push_back(std::move(o));
  }

  json::array& stats = root["stats"].emplace_array();
  for (const database_stats& d : in.stats) {
    json::object o;
    o["database"] = d.database;
    o["totals"] = counters(d.total);
    o["averages"] = counters(d.average);
    stats.push_back(std::move(o));
  }

  json::array& dbs = root["databases"].emplace_array();
  for (const database_info& d : in.databases) {
    json::object o;
    o["name"] = d.name;
    o["host"] = text_or_null(d.host);
    o["port"] = d.port;
    o["database"] = d.dbname;
    o["force_user"] = text_or_null(d.force_user);
    o["pool_size"] = d.pool_size;
    o["min_pool_size"] = d.min_pool_size;
    o["reserve_pool_size"] = d.reserve_pool_size;
    o["server_lifetime"] = d.server_lifetime;
    o["pool_mode"] = d.mode ? json::value(to_string(*d.mode)) : json::value(nullptr);
    o["max_connections"] = d.max_connections;
    o["current_connections"] = d.current_connections;
    o["max_client_connections"] = d.max_client_connections;
    o["current_client_connections"] = d.current_client_connections;
    o["paused"] = d.paused;
    o["disabled"] = d.disabled;
    dbs.push_back(std::move(o));
  }

  // SHOW PEERS and SHOW PEER_POOLS in one: every [peers] entry, its cancel pool's counts.
  json::array& peers = root["peers"].emplace_array();
  for (const peer_info& p : in.peers) {
    json::object o;
    o["peer_id"] = p.peer_id;
    o["host"] = p.host;
    o["port"] = p.port;
    o["pool_size"] = p.pool_size;
    o["self"] = p.self;
    o["cl_active_cancel_req"] = p.pool.active;
    o["cl_waiting_cancel_req"] = p.pool.waiting;
    o["sv_active_cancel"] = p.pool.active;
    o["sv_login"] = p.pool.connecting;
    o["cancels_forwarded"] = p.pool.forwarded;
    o["cancel_forwards_failed"] = p.pool.failed;
    peers.push_back(std::move(o));
  }

  json::array& clients = root["clients"].emplace_array();
  for (const connection_info& c : in.connections.clients)
    if (c.state != conn_state::login) clients.push_back(connection(c));
  json::array& servers = root["servers"].emplace_array();
  for (const connection_info& s : in.connections.servers) servers.push_back(connection(s));

  return json::serialize(root) + "\n";
}

}  // namespace sluice::http
