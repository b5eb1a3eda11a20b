// auth_hba_file: pgbouncer's subset of pg_hba.conf. One rule per line:
//
//   local      DATABASE USER          METHOD
//   host       DATABASE USER ADDRESS  METHOD     (also hostssl, hostnossl)
//
// DATABASE and USER are comma lists of names or "all" (DATABASE also "sameuser"); ADDRESS is
// "all" or an IPv4/IPv6 address with a /prefix (a bare address is a single host). METHOD is
// trust, reject, md5, password, scram-sha-256, peer or cert. '#' starts a comment. Rules are
// tried in order; the first that matches decides; none matching rejects.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <cstring>

#include "sluice/config.hpp"
#include "values.hpp"

namespace sluice {

using namespace config_detail;

namespace {

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (is_blank(line[i]))) ++i;
    if (i >= line.size() || line[i] == '#') break;
    std::string word;
    if (line[i] == '"') {  // a quoted name keeps its blanks and commas
      ++i;
      while (i < line.size() && line[i] != '"') word += line[i++];
      ++i;
    } else {
      while (i < line.size() && !is_blank(line[i]) && line[i] != '#') word += line[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool parse_address(const std::string& text, hba_rule& r) {
  std::string addr = text;
  int prefix = -1;
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    long long n = 0;
    if (!parse_integer_text(text.substr(slash + 1), n) || n < 0 || n > 128) return false;
    prefix = static_cast<int>(n);
  }
  if (::inet_pton(AF_INET, addr.c_str(), r.addr) == 1) {
    r.family = AF_INET;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return false;
  } else if (::inet_pton(AF_INET6, addr.c_str(), r.addr) == 1) {
    r.family = AF_INET6;
    if (prefix < 0) prefix = 128;
  } else {
    return false;
  }
  r.prefix = prefix;
  return true;
}

bool in_list(const std::vector<std::string>& list, const std::string& name) {
  for (const auto& item : list)
    if (item == name) return true;
  return false;
}

}  // namespace

hba_rules load_hba(const std::string& path) {
  std::string text;
  if (int err = read_whole_file(path, text))
    throw config_error(path, 0, fmt::format("cannot read auth_hba_file: {}", std::strerror(err)));
  hba_rules rules;
  std::vector<config_error> errors;
  const auto lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const int line = static_cast<int>(n) + 1;
    try {
      const auto w = split_words(lines[n]);
      if (w.empty()) continue;
      hba_rule r;
      r.line = line;
      std::size_t i = 0;
      const std::string& type = w[i++];
      if (type == "local")
        r.conn = hba_rule::local;
      else if (type == "host")
        r.conn = hba_rule::host;
      else if (type == "hostssl")
        r.conn = hba_rule::hostssl;
      else if (type == "hostnossl")
        r.conn = hba_rule::hostnossl;
      else
        throw config_error(path, line, fmt::format("unknown connection type \"{}\"", type));
      const std::size_t need = r.conn == hba_rule::local ? 4 : 5;
      if (w.size() != need)
        throw config_error(
            path, line,
            fmt::format("expected {} fields for a \"{}\" line, found {}", need, type, w.size()));
      for (const auto& d : split_commas(w[i++])) {
        if (!d.empty() && d[0] == '@')
          throw config_error(path, line, "@file lists are not supported by sluice");
        r.databases.push_back(d);
      }
      for (const auto& u : split_commas(w[i++])) {
        if (!u.empty() && (u[0] == '@' || u[0] == '+'))
          throw config_error(path, line,
                             "@file lists and +group roles are not supported by sluice");
        r.users.push_back(u);
      }
      if (r.conn != hba_rule::local) {
        const std::string& a = w[i++];
        if (a == "all") {
          r.family = 0;
        } else if (!parse_address(a, r)) {
          throw config_error(path, line, fmt::format("invalid address \"{}\"", a));
        }
      }
      const std::string& m = w[i];
      if (m == "trust")
        r.method = hba_rule::trust;
      else if (m == "reject")
        r.method = hba_rule::reject;
      else if (m == "md5")
        r.method = hba_rule::md5;
      else if (m == "password")
        r.method = hba_rule::password;
      else if (m == "scram-sha-256")
        r.method = hba_rule::scram_sha_256;
      else if (m == "peer")
        r.method = hba_rule::peer;
      else if (m == "cert")
        r.method = hba_rule::cert;
      else
        throw config_error(path, line, fmt::format("unsupported authentication method \"{}\"", m));
      rules.push_back(std::move(r));
    } catch (const config_error& e) {
      errors.push_back(e);
    }
  }
  throw_collected(errors);
  return rules;
}

const hba_rule* match_hba(const hba_rules& rules, const hba_peer& p) {
  for (const hba_rule& r : rules) {
    if (r.conn == hba_rule::local && !p.is_unix) continue;
    if (r.conn != hba_rule::local && p.is_unix) continue;
    if (r.conn == hba_rule::hostssl && !p.tls) continue;
    if (r.conn == hba_rule::hostnossl && p.tls) continue;
    if (!in_list(r.databases, "all") && !in_list(r.databases, p.database) &&
        !(in_list(r.databases, "sameuser") && p.database == p.user))
      continue;
    if (!in_list(r.users, "all") && !in_list(r.users, p.user)) continue;
    if (r.conn != hba_rule::local && r.family != 0) {
      if (r.family != p.family) continue;
      const int bytes = r.family == AF_INET ? 4 : 16;
      bool inside = true;
      for (int bit = 0; bit < r.prefix && bit < bytes * 8; ++bit) {
        const int byte = bit / 8, mask = 0x80 >> (bit % 8);
        if ((r.addr[byte] & mask) != (p.addr[byte] & mask)) {
          inside = false;
          break;
        }
      }
      if (!inside) continue;
    }
    return &r;
  }
  return nullptr;
}

}  // namespace sluice
