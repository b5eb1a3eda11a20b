#include "pool/hosts.hpp"

namespace sluice {

namespace {

bool on(std::string_view v) { return v == "on" || v == "true" || v == "t" || v == "1"; }

}  // namespace

std::string_view server_role::name() const noexcept {
  if (!known) return "unknown";
  if (hot_standby) return "standby";
  return read_only ? "read-only" : "primary";
}

server_role role_from_params(const param_map& params) {
  const auto hs = params.find("in_hot_standby");
  const auto ro = params.find("default_transaction_read_only");
  server_role r;
  if (hs == params.end() || ro == params.end()) return r;
  r.known = true;
  r.hot_standby = on(hs->second);
  r.read_only = on(ro->second);
  return r;
}

server_role role_from_query(std::string_view in_recovery, std::string_view read_only) {
  return server_role{true, on(in_recovery), on(read_only)};
}

bool role_suits(session_attrs attrs, const server_role& r, bool first_pass) {
  if (attrs == session_attrs::any) return true;
  if (!r.known) return false;
  switch (attrs) {
    case session_attrs::read_write:
      return !r.hot_standby && !r.read_only;
    case session_attrs::read_only:
      return r.hot_standby || r.read_only;
    case session_attrs::primary:
      return !r.hot_standby;
    case session_attrs::standby:
      return r.hot_standby;
    case session_attrs::prefer_standby:
      return !first_pass || r.hot_standby;
    case session_attrs::any:
      break;
  }
  return true;
}

std::vector<std::size_t> host_order(std::size_t hosts, std::size_t start) {
  std::vector<std::size_t> order;
  order.reserve(hosts);
  for (std::size_t k = 0; k < hosts; ++k) order.push_back((start + k) % hosts);
  return order;
}

}  // namespace sluice
