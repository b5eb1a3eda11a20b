// The registry of pools: one per (database, user), created on first use.
#include "pool/pool.hpp"

namespace sluice {

pool* pool_registry::get(const database_config& db, const std::string& dbname,
                         const std::string& user, const config& c, const userlist& users,
                         bool& created) {
  pool_target t;
  t.host = db.host;
  t.port = db.port;
  t.dbname = db.dbname.empty() ? dbname : db.dbname;
  t.user = db.user.empty() ? user : db.user;
  t.password = db.password;
  if (t.password.empty()) {
    // From the userlist, as stored: plaintext or an md5 hash logs in directly; a SCRAM secret
    // needs the keys of a client that proved it (pass-through), which the pool learns when a
    // client logs in with SCRAM. The server login says which of these cannot answer what the
    // server asks.
    if (const std::string* stored = users.find(t.user)) t.password = *stored;
  }
  if (!db.client_encoding.empty())
    t.startup_params.emplace_back("client_encoding", db.client_encoding);
  if (!db.datestyle.empty()) t.startup_params.emplace_back("datestyle", db.datestyle);
  if (!db.timezone.empty()) t.startup_params.emplace_back("timezone", db.timezone);
  if (!db.application_name.empty())
    t.startup_params.emplace_back("application_name", db.application_name);
  t.connect_query = db.connect_query;

  std::lock_guard lk(mu_);
  auto key = std::make_pair(dbname, t.user);
  auto it = pools_.find(key);
  created = it == pools_.end();
  if (!created) return it->second.get();
  std::string pool_user = t.user;
  auto p = std::make_unique<pool>(
      *this, shards_, dbname, std::move(pool_user), std::move(t), db.mode.value_or(c.mode),
      db.pool_size.value_or(c.default_pool_size), db.min_pool_size.value_or(c.min_pool_size),
      db.reserve_pool_size.value_or(c.reserve_pool_size));
  p->max_db_connections = db.max_db_connections.value_or(c.max_db_connections);
  pool* raw = p.get();
  pools_.emplace(std::move(key), std::move(p));
  return raw;
}

void pool_registry::connection_totals(std::string_view db, std::string_view user, int& db_total,
                                      int& user_total) {
  db_total = user_total = 0;
  std::lock_guard lk(mu_);
  for (auto& [key, q] : pools_) {
    const int n = q->total.load();
    if (q->db_name == db) db_total += n;
    if (q->target.user == user) user_total += n;
  }
}

std::vector<pool*> pool_registry::all() {
  std::vector<pool*> out;
  std::lock_guard lk(mu_);
  out.reserve(pools_.size());
  for (auto& [key, p] : pools_) out.push_back(p.get());
  return out;
}

int pool_registry::active_total() {
  int active = 0;
  std::lock_guard lk(mu_);
  for (auto& [key, p] : pools_) active += p->active_total();
  return active;
}

void pool_registry::clear() {
  std::lock_guard lk(mu_);
  pools_.clear();
}

}  // namespace sluice
