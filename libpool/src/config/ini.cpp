#include "sluice/config.hpp"

/// @file ini.cpp
/// pgbouncer.ini reading: sections, keys, %include and the checks after parsing. The keys of
/// [pgbouncer] and [sluice] are rows of the settings table (settings.cpp), values are read by
/// values.cpp, connection strings by connstring.cpp; userlist.txt is userlist.cpp.
///
/// Syntax follows PgBouncer (libusual's ini parser):
///  - `[section]` lines; `key = value` lines; lines whose first non-blank character is ';' or
///    '#' are comments (a ';' or '#' later in a line is part of the value). Values are trimmed
///    and may be empty. A key may be quoted ("..." or '...', doubled quote = literal quote),
///    which [databases] names need when they contain characters outside [A-Za-z0-9_.*-].
///  - `%include path`: the included file is read in place and shares the current section.
///    A relative path is first tried as given (relative to the working directory, like
///    PgBouncer), then relative to the directory of the including file. Nesting is limited
///    to 10 levels (this also stops include cycles).
///  - Section names and the keys of [pgbouncer], [sluice] and of connection strings are
///    case-insensitive; database, user and peer names are not.
///  - Integers are read like PgBouncer's strtol(..., 0): "0x1f" is hex and "017" is octal.
///    unix_socket_mode is always octal ("777" and "0777" are the same mode).
///  - Booleans: 0/1/yes/no/on/off/true/false (any non-negative integer: non-zero = true, as
///    PgBouncer stores booleans as integers).
///  - Durations: a non-negative number of seconds (fractions allowed, "0.5"), optionally with
///    a unit: us, ms, s, min, h, d ("100ms", "5min", "1.5 h").
///  - Limits sluice adds: pkt_buf >= 1 (a relay buffer is never under 512 bytes: shard.cpp
///    rounds smaller values up); 1024 <= max_packet_size <= 2147483647 (the largest
///    length the protocol can express); ports 1..65535; sizes, counts and timeouts >= 0;
///    [sluice] workers 0..4096.
///  - Connection strings ([databases], [users], [peers]): `key=value` pairs separated by
///    blanks; a value may be single-quoted, with '' or \' for a quote and \x for x inside.
///  - After parsing: the file must have a [pgbouncer] section, and auth_type plain, md5 (the
///    default) or scram-sha-256 needs auth_file (reported at line 0 when it is not set at all).
///
/// Keys PgBouncer documents but sluice does not act on yet are accepted (their value is
/// validated when that is trivial) and listed in config::unsupported with where they were set;
/// a key PgBouncer does not know is an error.

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "connstring.hpp"
#include "ini.hpp"
#include "settings.hpp"
#include "values.hpp"

namespace sluice {

using namespace config_detail;

namespace {

constexpr int max_include_depth = 10;

bool is_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '*';
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

struct where_set {
  std::string file;
  int line = 0;
};

class ini_loader {
 public:
  explicit ini_loader(config& c, std::vector<ini_entry>* raw = nullptr) : cfg_(c), raw_(raw) {}

  void load(const std::string& path) {
    std::string text;
    if (int err = read_whole_file(path, text))
      throw config_error(path, 0, fmt::format("cannot read config file: {}", std::strerror(err)));
    parse(path, text, 0);
    try {
      if (!got_main_) throw config_error(path, 0, "the [pgbouncer] section is missing");
      if (!raw_) validate(path);  // raw mode applies nothing, so there is nothing to check
    } catch (const config_error& e) {
      note(e);
    }
    throw_collected(errors_);
  }

 private:
  config& cfg_;
  std::vector<ini_entry>* raw_;  ///< when set, entries are collected, not applied
  std::string section_;          ///< lower-cased; empty before the first section header
  bool got_main_ = false;
  std::map<std::string, where_set> seen_;  ///< [pgbouncer] key -> where it was last set
  std::vector<config_error> errors_;       ///< every error so far, in file order
  bool bad_section_ = false;  ///< in a section whose header was refused: its keys are skipped

  void note(const config_error& e) { errors_.push_back(e); }

  void parse(const std::string& file, const std::string& text, int depth) {
    auto lines = split_lines(text);
    for (std::size_t n = 0; n < lines.size(); ++n) {
      // Read on after an error, so that --check can list every one.
      try {
        parse_line(file, static_cast<int>(n) + 1, trim(lines[n]), depth);
      } catch (const config_error& e) {
        note(e);
      }
    }
  }

  void parse_line(const std::string& file, int line, std::string_view s, int depth) {
    if (s.empty()) return;
    if (s == "%include") throw config_error(file, line, "%include without a file name");
    if (s.size() > 8 && s.substr(0, 8) == "%include" && is_blank(s[8])) {
      include(file, line, std::string(trim(s.substr(8))), depth);
      return;
    }
    if (s.front() == ';' || s.front() == '#') return;
    if (s.front() == '[') {
      auto close = s.find(']');
      if (close == std::string_view::npos)
        throw config_error(file, line, "syntax error: section header without ']'");
      auto rest = trim(s.substr(close + 1));
      if (!rest.empty() && rest.front() != ';' && rest.front() != '#')
        throw config_error(file, line, "syntax error: unexpected text after the section header");
      bad_section_ = true;  // until the header is accepted
      start_section(file, line, std::string(trim(s.substr(1, close - 1))));
      bad_section_ = false;
      return;
    }
    if (bad_section_) return;
    auto [key, rest] = read_key(file, line, s);
    rest = trim(rest);
    if (rest.empty() || rest.front() != '=')
      throw config_error(file, line, "syntax error: expected 'key = value'");
    rest.remove_prefix(1);
    set(file, line, key, std::string(trim(rest)));
  }

  /// Reads the key at the start of s: quoted ("..."/'...' with doubled quotes) or bare.
  static std::pair<std::string, std::string_view> read_key(const std::string& file, int line,
                                                           std::string_view s) {
    std::string key;
    if (s.front() == '"' || s.front() == '\'') {
      const char q = s.front();
      std::size_t i = 1;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == q) {
          if (i + 1 < s.size() && s[i + 1] == q) {
            key += q;
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        key += s[i++];
      }
      if (!closed) throw config_error(file, line, "syntax error: unterminated quoted name");
      if (key.empty()) throw config_error(file, line, "syntax error: empty quoted name");
      return {key, s.substr(i)};
    }
    std::size_t i = 0;
    while (i < s.size() && is_key_char(s[i])) ++i;
    if (i == 0) throw config_error(file, line, "syntax error: expected 'key = value'");
    return {std::string(s.substr(0, i)), s.substr(i)};
  }

  void include(const std::string& file, int line, const std::string& target, int depth) {
    if (target.empty()) throw config_error(file, line, "%include without a file name");
    if (depth + 1 > max_include_depth)
      throw config_error(
          file, line,
          fmt::format("%include nesting deeper than {} (include cycle?)", max_include_depth));
    std::string path = target;
    std::string text;
    int err = read_whole_file(path, text);
    if (err && target.front() != '/') {
      std::string alt = dirname_of(file) + "/" + target;
      if (read_whole_file(alt, text) == 0) {
        path = alt;
        err = 0;
      }
    }
    if (err)
      throw config_error(
          file, line,
          fmt::format("cannot read included file \"{}\": {}", target, std::strerror(err)));
    parse(path, text, depth + 1);
  }

  void start_section(const std::string& file, int line, const std::string& name) {
    std::string s = lower(name);
    if (s != "pgbouncer" && s != "databases" && s != "users" && s != "peers" && s != "sluice")
      throw config_error(file, line, fmt::format("unknown section [{}]", name));
    if (s == "pgbouncer") got_main_ = true;
    section_ = s;
  }

  void set(const std::string& file, int line, const std::string& key, const std::string& value) {
    if (section_.empty())
      throw config_error(file, line, fmt::format("\"{}\" is outside of any section", key));
    if (raw_) {
      raw_->push_back({section_, key, value, file, line});
      return;
    }
    if (section_ == "pgbouncer")
      return set_setting(section::pgbouncer, file, line, lower(key), value);
    if (section_ == "sluice") return set_setting(section::sluice, file, line, lower(key), value);
    if (section_ == "databases") return set_database(file, line, key, value);
    if (section_ == "users") return set_user(file, line, key, value);
    return set_peer(file, line, key, value);
  }

  /// A [pgbouncer] or [sluice] key: looked up in the settings table and applied as its row says.
  void set_setting(section sect, const std::string& file, int line, const std::string& key,
                   const std::string& value) {
    const setting* s = find_setting(sect, key);
    if (!s) {
      if (sect == section::sluice)
        throw config_error(file, line, fmt::format("unknown parameter in [sluice]: {}", key));
      throw config_error(file, line, fmt::format("unknown parameter: {}", key));
    }
    apply(*s, cfg_, value_ctx{key, value, file, line});
    if (s->acted_on() && sect == section::pgbouncer) seen_[key] = {file, line};
  }

  void set_database(const std::string& file, int line, const std::string& name,
                    const std::string& value) {
    if (name == "pgbouncer")
      throw config_error(file, line,
                         "database name \"pgbouncer\" is reserved for the admin console");
    database_config db = parse_database_entry(name, value, file, line);
    cfg_.unsupported.insert(cfg_.unsupported.end(), db.unsupported.begin(), db.unsupported.end());
    for (auto& existing : cfg_.databases) {
      if (existing.name == db.name) {  // a later definition replaces an earlier one
        existing = std::move(db);
        return;
      }
    }
    cfg_.databases.push_back(std::move(db));
  }

  void set_user(const std::string& file, int line, const std::string& name,
                const std::string& value) {
    user_config u;
    auto notes = check_user_entry(name, value, file, line, u);
    cfg_.unsupported.insert(cfg_.unsupported.end(), notes.begin(), notes.end());
    cfg_.users[name] = std::move(u);  // a later definition replaces an earlier one
  }

  void set_peer(const std::string& file, int line, const std::string& name,
                const std::string& value) {
    peer_config p = check_peer_entry(name, value, file, line);
    cfg_.peers[p.id] = std::move(p);  // a later definition replaces an earlier one
  }

  void validate(const std::string& main_file) {
    if (const std::string msg = missing_auth_file(cfg_); !msg.empty()) {
      if (auto it = seen_.find("auth_file"); it != seen_.end())
        throw config_error(it->second.file, it->second.line, msg);
      throw config_error(main_file, 0, msg);
    }
  }
};

}  // namespace

std::vector<ini_entry> config_detail::read_ini_entries(const std::string& path) {
  config c;
  std::vector<ini_entry> out;
  ini_loader(c, &out).load(path);
  return out;
}

std::string config_detail::missing_auth_file(const config& c) {
  const bool needs_file =
      c.auth == auth_type::plain || c.auth == auth_type::md5 || c.auth == auth_type::scram_sha_256;
  if (!needs_file || !c.auth_file.empty()) return {};
  return fmt::format("auth_type = {} requires auth_file to be set", to_string(c.auth));
}

void config_detail::load_hba_rules(config& c) {
  if (c.auth != auth_type::hba) return;
  if (c.auth_hba_file.empty())
    throw config_error(c.file, 0, "auth_type = hba requires auth_hba_file to be set");
  // auth_ident_file first: the rules' map= options name its maps.
  std::optional<ident_maps> maps;
  if (!c.auth_ident_file.empty()) maps = load_ident(c.auth_ident_file);
  c.hba = std::make_shared<const hba_rules>(load_hba(c.auth_hba_file, maps ? &*maps : nullptr));
}

config load_ini(const std::string& path) {
  config c;
  c.file = path;
  ini_loader(c).load(path);
  load_hba_rules(c);
  return c;
}

}  // namespace sluice
