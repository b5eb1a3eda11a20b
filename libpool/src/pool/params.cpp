// Tracked session parameters: canonical names and the comparison key.
#include "pool/params.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace sluice {

std::string canonical_param(std::string_view name) {
  static constexpr std::array<std::string_view, 14> known = {"client_encoding",
                                                             "DateStyle",
                                                             "TimeZone",
                                                             "IntervalStyle",
                                                             "standard_conforming_strings",
                                                             "application_name",
                                                             "integer_datetimes",
                                                             "server_encoding",
                                                             "server_version",
                                                             "is_superuser",
                                                             "session_authorization",
                                                             "default_transaction_read_only",
                                                             "in_hot_standby",
                                                             "search_path"};
  auto ieq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (auto k : known)
    if (ieq(k, name)) return std::string(k);
  std::string lower(name);
  for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

namespace {

void append_literal(std::string& out, std::string_view v) {
  if (v.find('\\') != std::string_view::npos) out += 'E';
  out += '\'';
  for (char c : v) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
}

/// PostgreSQL's reading of a list of identifiers (SplitIdentifierString): elements separated
/// by commas, each a double-quoted name ("" for a quote inside; "" alone, an empty name) or a
/// bare word, lower-cased; whitespace around them ignored. False if the list is not one.
bool split_identifiers(std::string_view s, std::vector<std::string>& out) {
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  skip_space();
  if (i == s.size()) return true;  // an empty list
  for (;;) {
    std::string name;
    if (s[i] == '"') {
      for (++i;; ++i) {
        if (i == s.size()) return false;  // the quote is not closed
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            name += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        name += s[i];
      }
      // "" is how PostgreSQL shows an empty search_path: kept, it is given as ''.
    } else {
      while (i < s.size() && s[i] != ',' && !std::isspace(static_cast<unsigned char>(s[i])))
        name += char(std::tolower(static_cast<unsigned char>(s[i++])));
      if (name.empty()) return false;
    }
    out.push_back(std::move(name));
    skip_space();
    if (i == s.size()) return true;
    if (s[i] != ',') return false;
    ++i;
    skip_space();
    if (i == s.size()) return false;  // a trailing comma
  }
}

}  // namespace

std::string set_statement(std::string_view name, std::string_view value) {
  std::string sql = "SET ";
  sql += name;
  sql += '=';
  std::vector<std::string> elems;
  if (name == "search_path" && split_identifiers(value, elems)) {
    if (elems.empty()) {
      sql += "''";  // no schema at all
    } else {
      for (std::size_t i = 0; i < elems.size(); ++i) {
        if (i) sql += ", ";
        append_literal(sql, elems[i]);
      }
    }
  } else {
    append_literal(sql, value);
  }
  sql += ';';
  return sql;
}

std::string tracked_key(const config& cfg, const param_map& params) {
  std::string key;
  for (const auto& [k, v] : params) {
    if (!is_tracked_param(cfg, k)) continue;
    key += k;
    key += '=';
    key += v;
    key += '\0';
  }
  return key;
}

bool is_tracked_param(const config& cfg, std::string_view canonical) {
  static constexpr std::array<std::string_view, 6> always = {
      "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
      "application_name"};
  if (std::find(always.begin(), always.end(), canonical) != always.end()) return true;
  for (const auto& extra : cfg.track_extra_parameters)
    if (canonical_param(extra) == canonical) return true;
  return false;
}

bool parse_startup_options(std::string_view s,
                           std::vector<std::pair<std::string, std::string>>& out) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t i = 0;
  const std::size_t n = s.size();
  const auto skip_space = [&] {
    while (i < n && space(s[i])) ++i;
  };
  for (;;) {
    skip_space();
    if (i >= n) return true;
    if (s.substr(i, 2) == "-c") {
      i += 2;
      skip_space();
    } else if (s.substr(i, 2) == "--") {
      i += 2;
    } else {
      return false;
    }
    std::string item;
    while (i < n && !space(s[i])) {
      if (s[i] == '\\') {
        ++i;
        if (i < n) item.push_back(s[i++]);
      } else {
        item.push_back(s[i++]);
      }
    }
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
}

}  // namespace sluice
