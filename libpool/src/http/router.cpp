#include "http/router.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/url/parse.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::http {

namespace {

struct path_entry {
  std::string_view path;
  endpoint ep;
  method m;
  bool takes_database;  ///< ?database= is allowed
};

constexpr std::array<path_entry, 11> paths = {{
    {"/healthz", endpoint::healthz, method::get, false},
    {"/readyz", endpoint::readyz, method::get, true},
    {"/metrics", endpoint::metrics, method::get, false},
    {"/stats", endpoint::stats, method::get, false},
    {"/reload", endpoint::reload, method::post, false},
    {"/pause", endpoint::pause, method::post, true},
    {"/resume", endpoint::resume, method::post, true},
    {"/reconnect", endpoint::reconnect, method::post, true},
    {"/disable", endpoint::disable, method::post, true},
    {"/enable", endpoint::enable, method::post, true},
    {"/kill", endpoint::kill, method::post, true},
}};

route_result refuse(unsigned status, std::string message) {
  route_result r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

}  // namespace

std::string_view command_name(endpoint e) noexcept {
  switch (e) {
    case endpoint::reload: return "RELOAD";
    case endpoint::pause: return "PAUSE";
    case endpoint::resume: return "RESUME";
    case endpoint::reconnect: return "RECONNECT";
    case endpoint::disable: return "DISABLE";
    case endpoint::enable: return "ENABLE";
    case endpoint::kill: return "KILL";
    default: return "";
  }
}

route_result route(method m, std::string_view target, std::string_view authorization,
                   const std::string* token) {
  const auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return refuse(400, "malformed request target");
  const boost::urls::url_view& url = *parsed;
  const std::string path = url.path();
  const path_entry* entry = nullptr;
  for (const auto& e : paths)
    if (e.path == path) entry = &e;
  if (!entry) return refuse(404, fmt::format("no such endpoint: {}", path));
  if (m != entry->m) {
    route_result r = refuse(405, fmt::format("{} takes {} only", path,
                                             entry->m == method::get ? "GET" : "POST"));
    r.allow = entry->m == method::get ? "GET" : "POST";
    return r;
  }
  route_result r;
  bool have_database = false;
  for (const auto& p : url.params()) {
    if (p.key.empty() && !p.has_value) continue;  // a bare "?" or "&&"
    if (!entry->takes_database || p.key != "database")
      return refuse(400, fmt::format("{} does not take the query parameter '{}'", path,
                                     std::string_view(p.key)));
    if (have_database) return refuse(400, "database given twice");
    if (!p.has_value || p.value.empty()) return refuse(400, "database must not be empty");
    have_database = true;
    r.database = p.value;
  }
  if (entry->m == method::post) {
    if (!token) return refuse(403, "no http_auth_token_file is configured: control is disabled");
    constexpr std::string_view scheme = "Bearer ";
    // The scheme is case-insensitive (RFC 7235); the token itself is not.
    const bool bearer = authorization.size() > scheme.size() &&
                        strncasecmp(authorization.data(), scheme.data(), scheme.size()) == 0;
    if (!bearer || !token_matches(authorization.substr(scheme.size()), *token)) {
      route_result u = refuse(401, bearer ? "wrong token" : "a bearer token is required");
      u.challenge = true;
      return u;
    }
  }
  r.ep = entry->ep;
  return r;
}

bool token_matches(std::string_view presented, std::string_view token) noexcept {
  // Every byte of the presented token is looked at whatever the outcome, so the time taken
  // says nothing about how much of it was right.
  unsigned char diff = presented.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < presented.size(); ++i) {
    const unsigned char want = token.empty() ? 0 : static_cast<unsigned char>(token[i % token.size()]);
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(presented[i]) ^ want);
  }
  return diff == 0 && !token.empty();
}

std::string load_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("{}: cannot read http_auth_token_file: {}", path, std::strerror(errno)));
  std::ostringstream all;
  all << in.rdbuf();
  std::string t = all.str();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ' || t.back() == '\t'))
    t.pop_back();
  if (t.empty()) throw std::runtime_error(fmt::format("{}: http_auth_token_file is empty", path));
  for (char c : t)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      throw std::runtime_error(fmt::format(
          "{}: http_auth_token_file must hold one token, without spaces or control characters",
          path));
  return t;
}

}  // namespace sluice::http
