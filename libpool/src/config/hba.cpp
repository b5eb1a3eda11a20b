// auth_hba_file: pgbouncer's subset of pg_hba.conf. One rule per line:
//
//   local      DATABASE USER          METHOD  [map=NAME]
//   host       DATABASE USER ADDRESS  METHOD  [map=NAME]   (also hostssl, hostnossl)
//
// DATABASE and USER are comma lists (blanks around the commas allowed) of names or the keyword
// all (DATABASE also sameuser). A name in double quotes keeps its blanks and commas, "" in it
// stands for one quote, and a quoted "all" is a name, not the keyword. ADDRESS is all, an
// IPv4/IPv6 address with a /prefix, an address followed by a netmask field
// (127.0.0.0 255.255.255.0), or a bare address (a single host). METHOD is trust, reject, md5,
// password, scram-sha-256, peer or cert. The only option is map=NAME (pgbouncer knows no
// other, clientcert= included): peer and cert rules then ask that map of auth_ident_file which
// database users the OS user or the certificate's CN may log in as, instead of requiring the
// same name. '#' starts a comment. Rules are tried in order; the first that matches decides;
// none matching rejects.
//
// auth_ident_file: pgbouncer's subset of pg_ident.conf. One mapping per line:
//
//   MAPNAME  SYSTEM-USER  DATABASE-USER
//
// DATABASE-USER is a name or all (any user). As in pgbouncer, names are compared as written:
// no regular expressions (/...), no +groups, no include files.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <cstring>

#include "sluice/config.hpp"
#include "values.hpp"

namespace sluice {

using namespace config_detail;

namespace {

/// One name of a field, and whether it was quoted (a quoted name is never a keyword).
struct item {
  std::string text;
  bool quoted = false;
  bool is(const char* keyword) const { return !quoted && text == keyword; }
};
/// A field: one name, or a comma list of them.
using field = std::vector<item>;

/// Splits a line into fields: blanks separate fields, commas (blanks around them allowed) join
/// the names of one field, '#' outside quotes ends the line.
std::vector<field> split_fields(std::string_view line, const std::string& path, int lineno) {
  std::vector<field> out;
  std::size_t i = 0;
  const auto blanks = [&] {
    while (i < line.size() && is_blank(line[i])) ++i;
  };
  const auto at_end = [&] { return i >= line.size() || line[i] == '#'; };
  for (;;) {
    blanks();
    if (at_end()) return out;
    field f;
    for (;;) {
      item it;
      if (line[i] == ',') throw config_error(path, lineno, "empty name in a list");
      if (line[i] == '"') {
        it.quoted = true;
        for (++i;; ++i) {
          if (i >= line.size()) throw config_error(path, lineno, "unterminated quoted name");
          if (line[i] == '"') {
            if (i + 1 >= line.size() || line[i + 1] != '"') break;
            ++i;  // "" is one quote
          }
          it.text += line[i];
        }
        ++i;
      } else {
        while (i < line.size() && !is_blank(line[i]) && line[i] != ',' && line[i] != '#' &&
               line[i] != '"')
          it.text += line[i++];
      }
      f.push_back(std::move(it));
      blanks();
      if (i >= line.size() || line[i] != ',') break;
      ++i;
      blanks();
      if (at_end()) throw config_error(path, lineno, "a list ends with a comma");
    }
    out.push_back(std::move(f));
  }
}

/// The field as one unquoted word; "" for a list or a quoted name.
std::string word(const field& f) {
  return f.size() == 1 && !f[0].quoted ? f[0].text : std::string();
}

/// The field as written, for messages.
std::string shown(const field& f) {
  std::string s;
  for (const item& it : f) s += (s.empty() ? "" : ",") + it.text;
  return s;
}

bool parse_ip(const std::string& text, int& family, unsigned char* out) {
  if (::inet_pton(AF_INET, text.c_str(), out) == 1) {
    family = AF_INET;
    return true;
  }
  if (::inet_pton(AF_INET6, text.c_str(), out) == 1) {
    family = AF_INET6;
    return true;
  }
  return false;
}

/// ADDRESS (and a netmask field after a bare address) from w[i]; returns the fields used.
std::size_t parse_address(const std::vector<field>& w, std::size_t i, hba_rule& r,
                          const std::string& path, int line) {
  const std::string text = word(w[i]);
  if (text == "all") {
    r.family = 0;
    return 1;
  }
  const auto bad = [&] {
    return config_error(path, line, fmt::format("invalid address \"{}\"", shown(w[i])));
  };
  std::string addr = text;
  long long prefix = -1;
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    if (!parse_integer_text(text.substr(slash + 1), prefix) || prefix < 0) throw bad();
  }
  if (text.empty() || !parse_ip(addr, r.family, r.addr)) throw bad();
  const int bits = r.family == AF_INET ? 32 : 128;
  if (prefix > bits) throw bad();
  if (prefix < 0 && i + 1 < w.size()) {
    // host ADDRESS NETMASK METHOD: the field after a bare address is a netmask if it parses
    // as an address of the same family (a method name never does).
    const std::string m = word(w[i + 1]);
    unsigned char mask[16] = {};
    if (!m.empty() && ::inet_pton(r.family, m.c_str(), mask) == 1) {
      std::memcpy(r.mask, mask, sizeof mask);
      return 2;
    }
  }
  if (prefix < 0) prefix = bits;  // a bare address is a single host
  for (int bit = 0; bit < prefix; ++bit)
    r.mask[bit / 8] |= static_cast<unsigned char>(0x80 >> (bit % 8));
  return 1;
}

void parse_names(const field& f, hba_rule& r, bool database, const std::string& path, int line) {
  for (const item& it : f) {
    if (it.is("all")) {
      (database ? r.all_databases : r.all_users) = true;
    } else if (database && it.is("sameuser")) {
      r.sameuser = true;
    } else if (database) {
      if (!it.quoted && !it.text.empty() && it.text[0] == '@')
        throw config_error(path, line, "@file lists are not supported by sluice");
      r.databases.push_back(it.text);
    } else {
      if (!it.quoted && !it.text.empty() && (it.text[0] == '@' || it.text[0] == '+'))
        throw config_error(path, line, "@file lists and +group roles are not supported by sluice");
      r.users.push_back(it.text);
    }
  }
}

bool in_list(const std::vector<std::string>& list, const std::string& name) {
  for (const auto& item : list)
    if (item == name) return true;
  return false;
}

/// Reads `path` (the file of setting `what`) and calls on_line(fields, line) for each line
/// with fields; every line's error is collected, and all are thrown together.
template <class F>
void for_each_rule_line(const std::string& path, const char* what, F on_line) {
  std::string text;
  if (int err = read_whole_file(path, text))
    throw config_error(path, 0, fmt::format("cannot read {}: {}", what, std::strerror(err)));
  std::vector<config_error> errors;
  const auto lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const int line = static_cast<int>(n) + 1;
    try {
      const auto w = split_fields(lines[n], path, line);
      if (!w.empty()) on_line(w, line);
    } catch (const config_error& e) {
      errors.push_back(e);
    }
  }
  throw_collected(errors);
}

}  // namespace

ident_maps load_ident(const std::string& path) {
  ident_maps maps;
  for_each_rule_line(path, "auth_ident_file", [&](const auto& w, int line) {
    if (w.size() != 3)
      throw config_error(path, line,
                         fmt::format("expected 3 fields (map name, system user name, database "
                                     "user name), found {}",
                                     w.size()));
    for (const field& f : w)
      if (f.size() != 1)
        throw config_error(path, line, fmt::format("a list is not allowed: \"{}\"", shown(f)));
    const std::string map = word(w[0]);
    if (map.empty())
      throw config_error(path, line, fmt::format("invalid map name \"{}\"", shown(w[0])));
    const item& system = w[1][0];
    const item& db = w[2][0];
    if (!system.quoted && !system.text.empty() && system.text[0] == '/')
      throw config_error(path, line,
                         "regular expressions are not supported by sluice (nor pgbouncer)");
    if (!db.quoted && !db.text.empty() && (db.text[0] == '/' || db.text[0] == '+'))
      throw config_error(path, line,
                         "regular expressions and +group roles are not supported by sluice");
    ident_entry e;
    e.system_user = system.text;
    e.any_user = db.is("all");
    if (!e.any_user) e.db_user = db.text;
    e.line = line;
    maps[map].push_back(std::move(e));
  });
  return maps;
}

bool ident_map_allows(const std::vector<ident_entry>& map, const std::string& system_user,
                      const std::string& user) {
  for (const ident_entry& e : map)
    if (e.system_user == system_user && (e.any_user || e.db_user == user)) return true;
  return false;
}

hba_rules load_hba(const std::string& path, const ident_maps* maps) {
  hba_rules rules;
  for_each_rule_line(path, "auth_hba_file", [&](const auto& w, int line) {
    hba_rule r;
    r.line = line;
    std::size_t i = 0;
    const std::string type = word(w[i++]);
    if (type == "local")
      r.conn = hba_rule::local;
    else if (type == "host")
      r.conn = hba_rule::host;
    else if (type == "hostssl")
      r.conn = hba_rule::hostssl;
    else if (type == "hostnossl")
      r.conn = hba_rule::hostnossl;
    else
      throw config_error(path, line, fmt::format("unknown connection type \"{}\"", shown(w[0])));
    std::size_t need = r.conn == hba_rule::local ? 4 : 5;
    if (w.size() < need)
      throw config_error(
          path, line,
          fmt::format("expected {} fields for a \"{}\" line, found {}", need, type, w.size()));
    parse_names(w[i++], r, true, path, line);
    parse_names(w[i++], r, false, path, line);
    if (r.conn != hba_rule::local) {
      const std::size_t used = parse_address(w, i, r, path, line);
      i += used;
      need += used - 1;
      if (w.size() < need)
        throw config_error(path, line,
                           fmt::format("expected {} fields for a \"{}\" line with a netmask, "
                                       "found {}",
                                       need, type, w.size()));
    }
    const std::string m = word(w[i]);
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
      throw config_error(path, line,
                         fmt::format("unsupported authentication method \"{}\"", shown(w[i])));
    // Options. Like pgbouncer, map= is taken on any method and used by peer and cert.
    for (++i; i < w.size(); ++i) {
      const std::string opt = word(w[i]);
      if (opt.rfind("map=", 0) != 0)
        throw config_error(
            path, line,
            fmt::format("unsupported option \"{}\" (only map= is supported)", shown(w[i])));
      if (opt.size() == 4) throw config_error(path, line, "map= needs a map name");
      if (!r.map.empty()) throw config_error(path, line, "map= is given twice");
      r.map = opt.substr(4);
    }
    if (!r.map.empty()) {
      if (!maps)
        throw config_error(path, line,
                           fmt::format("map={} needs auth_ident_file to be set", r.map));
      const auto found = maps->find(r.map);
      if (found == maps->end())
        throw config_error(path, line,
                           fmt::format("ident map \"{}\" is not in auth_ident_file", r.map));
      r.map_entries = found->second;
    }
    rules.push_back(std::move(r));
  });
  return rules;
}

const hba_rule* match_hba(const hba_rules& rules, const hba_peer& p) {
  for (const hba_rule& r : rules) {
    if (r.conn == hba_rule::local && !p.is_unix) continue;
    if (r.conn != hba_rule::local && p.is_unix) continue;
    if (r.conn == hba_rule::hostssl && !p.tls) continue;
    if (r.conn == hba_rule::hostnossl && p.tls) continue;
    if (!r.all_databases && !in_list(r.databases, p.database) &&
        !(r.sameuser && p.database == p.user))
      continue;
    if (!r.all_users && !in_list(r.users, p.user)) continue;
    if (r.conn != hba_rule::local && r.family != 0) {
      if (r.family != p.family) continue;
      const int bytes = r.family == AF_INET ? 4 : 16;
      bool inside = true;
      for (int b = 0; b < bytes && inside; ++b) inside = ((r.addr[b] ^ p.addr[b]) & r.mask[b]) == 0;
      if (!inside) continue;
    }
    return &r;
  }
  return nullptr;
}

}  // namespace sluice
