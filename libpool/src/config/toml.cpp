// sluice.toml: the same settings as pgbouncer.ini, typed. Reading goes through the settings
// table and the connection-string parsers, so a TOML file is validated exactly as the ini
// file it converts from; --convert-config writes one from an ini file.
//
//   [pgbouncer]                         [databases.bench]
//   listen_port = 6432                  host = "127.0.0.1"
//   server_idle_timeout = "10min"       port = 5432
//   admin_users = ["admin", "ops"]      pool_size = 20
//   pool_mode = "transaction"
//                                       [users.app]
//   [sluice]                            pool_mode = "transaction"
//   workers = 2
//
// Numbers are numbers, booleans booleans, lists arrays of strings, durations a number of
// seconds or a string with a unit ("30s", "100ms"), file modes a string ("0777"). A database's
// host list is host = "a,b" (as pgbouncer.ini writes it) or host = ["a", "b"], its ports
// port = 5432 or port = [5432, 5433].
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>

#include "connstring.hpp"
#include "ini.hpp"
#include "settings.hpp"
#include "sluice/config.hpp"
#include "values.hpp"

namespace sluice {

using namespace config_detail;

namespace {

int line_of(const toml::node& n) {
  return static_cast<int>(n.source().begin.line);
}

/// The text an ini file would hold for this TOML value of a setting of type t, checking that
/// the TOML type fits. Throws config_error naming the key.
std::string setting_text(value_type t, const std::string& key, const toml::node& n,
                         const std::string& file) {
  auto fail = [&](std::string_view expected) -> std::string {
    throw config_error(file, line_of(n), fmt::format("{}: expected {}", key, expected));
  };
  switch (t) {
    case value_type::integer:
      if (auto v = n.value_exact<std::int64_t>()) return std::to_string(*v);
      return fail("an integer");
    case value_type::boolean:
      if (auto v = n.value_exact<bool>()) return *v ? "1" : "0";
      return fail("true or false");
    case value_type::duration:
      if (auto v = n.value_exact<std::int64_t>()) return std::to_string(*v);
      if (auto v = n.value_exact<double>()) return fmt::format("{}", *v);
      if (auto v = n.value_exact<std::string>()) return *v;
      return fail("a number of seconds or a string with a unit, such as \"30s\"");
    case value_type::list:
      if (const toml::array* a = n.as_array()) {
        std::string out;
        for (const auto& item : *a) {
          auto s = item.value_exact<std::string>();
          if (!s) return fail("an array of strings");
          if (s->find(',') != std::string::npos)
            throw config_error(file, line_of(item), fmt::format("{}: an item holds a comma", key));
          out += (out.empty() ? "" : ",") + *s;
        }
        return out;
      }
      return fail("an array of strings");
    case value_type::octal_mode:
      if (auto v = n.value_exact<std::string>()) return *v;
      if (auto v = n.value_exact<std::int64_t>()) return fmt::format("{:o}", *v);
      return fail("a file mode such as \"0777\"");
    case value_type::string:
    case value_type::pool_mode:
    case value_type::auth_type:
    case value_type::session_attrs:
    case value_type::one_of:
      if (auto v = n.value_exact<std::string>()) return *v;
      return fail("a string");
  }
  return fail("a value");
}

/// host = ["a", "b"] or port = [5432, 5433] as the comma-separated text host= and port= hold
/// in an ini file, so that both forms go through the same parser and checks.
std::string host_list_text(const std::string& key, const toml::array& a, const std::string& what,
                           const std::string& file) {
  const bool hosts = key == "host";
  auto error = [&](const toml::node& n, std::string_view why) {
    return config_error(file, line_of(n), fmt::format("{}: {}: {}", what, key, why));
  };
  if (a.empty())
    throw error(a, hosts ? "expected at least one host" : "expected at least one port");
  std::string out;
  for (const auto& item : a) {
    std::string text;
    if (hosts) {
      auto s = item.value_exact<std::string>();
      if (!s) throw error(item, "expected an array of strings");
      // A comma would split the element in two when the list is read back.
      if (s->find(',') != std::string::npos) throw error(item, "a host holds a comma");
      text = *s;
    } else {
      auto n = item.value_exact<std::int64_t>();
      if (!n) throw error(item, "expected an array of integers");
      text = std::to_string(*n);
    }
    out += (out.empty() ? "" : ",") + text;
  }
  // An array of one empty string is host = "" (the default Unix socket directory).
  return out;
}

/// A connection string ("k='v' ...") from a TOML table of strings, numbers and booleans; host
/// and port may also be arrays (a host list).
std::string connstring_of(const toml::table& t, const std::string& what, const std::string& file) {
  std::string out;
  for (const auto& [k, v] : t) {
    std::string text;
    const toml::array* list = v.as_array();
    if (list && (k.str() == "host" || k.str() == "port"))
      text = host_list_text(std::string(k.str()), *list, what, file);
    else if (auto s = v.value_exact<std::string>())
      text = *s;
    else if (auto i = v.value_exact<std::int64_t>())
      text = std::to_string(*i);
    else if (auto d = v.value_exact<double>())
      text = fmt::format("{}", *d);
    else if (auto b = v.value_exact<bool>())
      text.assign(1, *b ? '1' : '0');
    else
      throw config_error(file, line_of(v),
                         fmt::format("{}: {}: expected a string or a number", what, k.str()));
    // Quoted, with \ before ' and \ (GCC 12 warns falsely about std::string's operator+=
    // with a char here: -Wrestrict).
    std::string quoted;
    quoted.reserve(text.size() + 2);
    quoted.push_back('\'');
    for (char c : text) {
      if (c == '\'' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    quoted.push_back('\'');
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", k.str(), quoted);
  }
  return out;
}

class toml_loader {
 public:
  toml_loader(config& c, std::string file) : cfg_(c), file_(std::move(file)) {}

  void load() {
    std::string text;
    if (int err = read_whole_file(file_, text))
      throw config_error(file_, 0, fmt::format("cannot read config file: {}", std::strerror(err)));
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      throw config_error(file_, static_cast<int>(e.source().begin.line),
                         std::string(e.description()));
    }
    bool got_main = false;
    for (const auto& kv : root) {
      const auto& k = kv.first;  // named: clang 14 lambdas cannot capture a structured binding
      const auto& v = kv.second;
      guard(v, [&] {
        const std::string name(k.str());
        const toml::table* t = v.as_table();
        if (!t) throw config_error(file_, line_of(v), fmt::format("{}: expected a table", name));
        if (name == "pgbouncer") {
          got_main = true;
          settings(section::pgbouncer, *t);
        } else if (name == "sluice") {
          settings(section::sluice, *t);
        } else if (name == "databases" || name == "users" || name == "peers") {
          entries(name, *t);
        } else {
          throw config_error(file_, line_of(v), fmt::format("unknown section [{}]", name));
        }
      });
    }
    if (!got_main) note(config_error(file_, 0, "the [pgbouncer] section is missing"));
    if (const std::string msg = missing_auth_file(cfg_); !msg.empty())
      note(config_error(file_, 0, msg));
    // toml++ walks tables in key order: report in file order, as the ini reader does.
    std::stable_sort(
        errors_.begin(), errors_.end(),
        [](const config_error& a, const config_error& b) { return a.line() < b.line(); });
    throw_collected(errors_);
  }

 private:
  config& cfg_;
  std::string file_;
  std::vector<config_error> errors_;

  void note(const config_error& e) { errors_.push_back(e); }
  template <class F>
  void guard(const toml::node&, F&& f) {
    try {
      f();
    } catch (const config_error& e) {
      note(e);
    }
  }

  void settings(section sect, const toml::table& t) {
    for (const auto& kv : t) {
      const auto& k = kv.first;  // named: clang 14 lambdas cannot capture a structured binding
      const auto& v = kv.second;
      guard(v, [&] {
        const std::string key(k.str());
        const setting* s = find_setting(sect, key);
        if (!s)
          throw config_error(file_, line_of(v),
                             sect == section::sluice
                                 ? fmt::format("unknown parameter in [sluice]: {}", key)
                                 : fmt::format("unknown parameter: {}", key));
        const std::string text = setting_text(s->value.type, key, v, file_);
        apply(*s, cfg_, value_ctx{key, text, file_, line_of(v)});
      });
    }
  }

  void entries(const std::string& kind, const toml::table& t) {
    for (const auto& kv : t) {
      const auto& k = kv.first;  // named: clang 14 lambdas cannot capture a structured binding
      const auto& v = kv.second;
      guard(v, [&] {
        const std::string name(k.str());
        const toml::table* e = v.as_table();
        if (!e)
          throw config_error(file_, line_of(v),
                             fmt::format("{}.{}: expected a table of settings", kind, name));
        const std::string cs = connstring_of(*e, fmt::format("{} {}", kind, name), file_);
        const int line = line_of(v);
        if (kind == "databases") {
          if (name == "pgbouncer")
            throw config_error(file_, line,
                               "database name \"pgbouncer\" is reserved for the admin console");
          database_config db = parse_database_entry(name, cs, file_, line);
          cfg_.unsupported.insert(cfg_.unsupported.end(), db.unsupported.begin(),
                                  db.unsupported.end());
          cfg_.databases.push_back(std::move(db));
        } else if (kind == "users") {
          user_config u;
          auto notes = check_user_entry(name, cs, file_, line, u);
          cfg_.unsupported.insert(cfg_.unsupported.end(), notes.begin(), notes.end());
          cfg_.users[name] = std::move(u);
        } else {
          peer_config p = check_peer_entry(name, cs, file_, line);
          cfg_.peers[p.id] = std::move(p);
        }
      });
    }
  }
};

/// The TOML value for an ini setting's text, typed by its row.
void put_setting(toml::table& out, const setting* s, const ini_entry& e) {
  const std::string key = lower(e.key);
  const std::string text(trim(e.value));
  const value_ctx v{key, text, e.file, e.line};
  if (!s) {
    out.insert_or_assign(key, text);  // unknown: left for --check to report
    return;
  }
  switch (s->value.type) {
    case value_type::integer:
      out.insert_or_assign(key,
                           static_cast<std::int64_t>(parse_int(v, s->value.min, s->value.max)));
      return;
    case value_type::boolean:
      out.insert_or_assign(key, parse_bool(v));
      return;
    case value_type::duration: {
      long long whole = 0;
      if (parse_integer_text(text, whole) && whole >= 0)
        out.insert_or_assign(key, static_cast<std::int64_t>(whole));
      else
        out.insert_or_assign(key, text);  // with its unit, or a fraction, as written
      return;
    }
    case value_type::list: {
      toml::array a;
      for (const auto& item : parse_list(text)) a.push_back(item);
      out.insert_or_assign(key, std::move(a));
      return;
    }
    default:
      out.insert_or_assign(key, text);
  }
}

/// "5432,5433" as [5432, 5433]; nullopt when an element is not written as a plain decimal
/// number (empty, hex, blanks), which the array could not give back as written.
std::optional<toml::array> port_array(const std::string& text) {
  toml::array a;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma - start);
    long long n = 0;
    const bool plain = !item.empty() && item.size() <= 5 && item.front() != '0' &&
                       item.find_first_not_of("0123456789") == std::string::npos &&
                       parse_integer_text(item, n);
    if (!plain) return std::nullopt;
    a.push_back(static_cast<std::int64_t>(n));
    if (comma == std::string::npos) return a;
    start = comma + 1;
  }
}

}  // namespace

config load_toml(const std::string& path) {
  config c;
  c.file = path;
  toml_loader(c, path).load();
  load_hba_rules(c);
  return c;
}

config load_config(const std::string& path) {
  const bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  return is_toml ? load_toml(path) : load_ini(path);
}

std::string convert_ini_to_toml(const std::string& ini_path) {
  // Checked first, so that what is converted is a valid configuration.
  load_ini(ini_path);
  toml::table root, main, own, databases, users, peers;
  for (const ini_entry& e : read_ini_entries(ini_path)) {
    if (e.section == "pgbouncer") {
      put_setting(main, find_setting(section::pgbouncer, lower(e.key)), e);
    } else if (e.section == "sluice") {
      put_setting(own, find_setting(section::sluice, lower(e.key)), e);
    } else {
      toml::table entry;
      for (const auto& [k, v] : split_connstring(e.value, e.key, e.file, e.line)) {
        // A port list as an array of integers (it reads back as the same text); host= stays
        // the string as written, which reads back unchanged, empty elements included.
        if (k == "port" && v.find(',') != std::string::npos) {
          if (auto ports = port_array(v)) {
            entry.insert_or_assign(k, std::move(*ports));
            continue;
          }
        }
        long long n = 0;
        const bool number = (k == "port" || k.ends_with("pool_size") || k == "reserve_pool" ||
                             k.ends_with("_connections")) &&
                            parse_integer_text(v, n);
        if (number)
          entry.insert_or_assign(k, static_cast<std::int64_t>(n));
        else
          entry.insert_or_assign(k, v);
      }
      toml::table& into = e.section == "databases" ? databases
                          : e.section == "users"   ? users
                                                   : peers;
      into.insert_or_assign(e.key, std::move(entry));  // a later definition replaces an earlier one
    }
  }
  root.insert_or_assign("pgbouncer", std::move(main));
  if (!own.empty()) root.insert_or_assign("sluice", std::move(own));
  if (!databases.empty()) root.insert_or_assign("databases", std::move(databases));
  if (!users.empty()) root.insert_or_assign("users", std::move(users));
  if (!peers.empty()) root.insert_or_assign("peers", std::move(peers));
  std::ostringstream out;
  out << "# converted from " << ini_path << " by sluice --convert-config\n" << root << "\n";
  return out.str();
}

}  // namespace sluice
