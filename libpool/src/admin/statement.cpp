// The console's statement grammar: see statement.hpp.
#include "admin/statement.hpp"

#include <cctype>
#include <charconv>

namespace sluice {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// The next word of s (letters, digits, '_'), consumed; empty if s does not start with one.
std::string_view next_word(std::string_view& s) {
  s = trim_space(s);
  std::size_t n = 0;
  while (n < s.size() && is_word_char(s[n])) ++n;
  std::string_view w = s.substr(0, n);
  s.remove_prefix(n);
  return w;
}

/// The text between `quote` and its closing twin, a doubled quote standing for one; false
/// unless the closing quote ends `v`.
bool unquote(std::string_view v, char quote, std::string& out) {
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i] != quote) {
      out.push_back(v[i]);
      continue;
    }
    if (i + 1 < v.size() && v[i + 1] == quote) {
      out.push_back(quote);
      ++i;
      continue;
    }
    return i + 1 == v.size();
  }
  return false;
}

}  // namespace

std::string_view trim_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool parse_admin_statement(std::string_view sql, std::string& verb, std::string& what,
                           std::string& arg) {
  std::string_view rest = trim_space(sql);
  verb = upper(next_word(rest));
  what.clear();
  arg.clear();
  if (verb.empty()) return false;
  if (verb == "SHOW" || verb == "SELECT") {
    verb = "SHOW";  // SELECT x is SHOW x, for clients that only know how to SELECT
    what = upper(next_word(rest));
    if (what.empty()) return false;
  }
  if (!rest.empty() && !is_space(rest.front()) && verb != "SET")
    return false;  // "PAUSE(" and the like
  arg = std::string(trim_space(rest));
  return true;
}

bool parse_one_arg(std::string_view arg, std::string& out) {
  out.clear();
  if (arg.empty()) return true;
  if (arg.front() == '"') return unquote(arg, '"', out);
  for (char c : arg)
    if (!is_word_char(c)) return false;
  out.assign(arg);
  return true;
}

set_syntax parse_set_args(std::string_view arg, std::string& key, std::string& value) {
  key.clear();
  value.clear();
  std::string_view rest = trim_space(arg);
  std::size_t n = 0;
  while (n < rest.size() && is_word_char(rest[n])) ++n;
  key.assign(rest.substr(0, n));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  rest = trim_space(rest.substr(n));
  if (!rest.empty() && rest.front() == '=') {
    rest.remove_prefix(1);
  } else if (rest.size() > 2 && (rest[0] == 't' || rest[0] == 'T') &&
             (rest[1] == 'o' || rest[1] == 'O') && is_space(rest[2])) {
    rest.remove_prefix(2);
  } else {
    return set_syntax::not_set;
  }
  rest = trim_space(rest);
  if (!rest.empty() && rest.back() == ';') rest = trim_space(rest.substr(0, rest.size() - 1));
  if (key.empty() || rest.empty()) return set_syntax::bad_value;
  if (rest.front() == '\'') return unquote(rest, '\'', value) ? set_syntax::ok : set_syntax::bad_value;
  for (char c : rest)
    if (is_space(c) || c == '\'' || c == ';') return set_syntax::bad_value;
  value.assign(rest);
  return set_syntax::ok;
}

bool parse_client_id(std::string_view arg, unsigned long long& id) {
  id = 0;
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), id);
  return !arg.empty() && ec == std::errc{} && end == arg.data() + arg.size();
}

}  // namespace sluice
