// Tracked parameters of a client session: following the server's ParameterStatus, and
// replaying the client's values on a server that differs (SET ... before the first query).
#include "pgwire/messages.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

/// Brings the server's session parameters in line with what this client has seen.
awaitable<bool> client_session::replay_params() {
  if (srv->tracked_key == params->key) co_return true;
  std::string sql;
  for (const auto& [k, v] : params->values) {
    auto it = srv->params.find(k);
    if (it != srv->params.end() && it->second == v) continue;
    sql += set_statement(k, v);
  }
  if (sql.empty()) co_return true;
  log::debug("{} varcache_apply: {}", prefix(), sql);
  std::string err;
  const bool ok = co_await server_simple_query(*srv, sql, &err);
  if (!ok) {
    log::warning("{} parameter replay failed: {}", prefix(), err);
    co_return false;
  }
  // The server reports canonical spellings ("utc" -> "UTC"): adopt them so the next link
  // compares equal.
  param_map adopted = params->values;
  for (auto& [k, v] : adopted) {
    auto it = srv->params.find(k);
    if (it == srv->params.end() || it->second == v) continue;
    log::debug("{} varcache_set_canonical: setting {} to its canonical version {} -> {}",
                prefix(), k, v, it->second);
    v = it->second;
  }
  srv->tracked_key = tracked_key(sh.cfg(), srv->params);
  params = pool_->intern(sh.cfg(), std::move(adopted));
  co_return true;
}

void client_session::track_parameter_status(pgwire::bytes_view body) {
  pgwire::parameter_status_msg m;
  const pgwire::frame f{pgwire::be::parameter_status, body, body.size() + 5};
  if (pgwire::decode(f, m) != pgwire::errc::ok) return;
  const config& cfg = sh.cfg();
  const std::string k(m.name);
  srv->params[k] = std::string(m.value);
  if (is_tracked_param(cfg, k)) {
    param_map mine = params->values;
    mine[k] = std::string(m.value);
    params = pool_->intern(cfg, std::move(mine));
    srv->tracked_key = tracked_key(cfg, srv->params);
  }
}

}  // namespace sluice
