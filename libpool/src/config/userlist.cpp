#include "sluice/config.hpp"

// userlist.txt (auth_file) reading, as PgBouncer's loader does it: lines of
// `"user" "password"`, a doubled quote standing for a literal quote; lines starting with ';'
// or '#' and blank lines are ignored, and so is anything after the password.

#include <fmt/format.h>

#include <cstring>
#include <string_view>
#include <utility>

#include "values.hpp"

namespace sluice {

using namespace config_detail;

const std::string* userlist::find(const std::string& user) const noexcept {
  auto it = passwords.find(user);
  return it == passwords.end() ? nullptr : &it->second;
}

const pgwire::scram_secret* userlist::find_scram(const std::string& user) const noexcept {
  auto it = scram.find(user);
  return it == scram.end() ? nullptr : &it->second;
}

userlist load_userlist(const std::string& path) {
  std::string text;
  if (int err = read_whole_file(path, text))
    throw config_error(path, 0, fmt::format("cannot read auth_file: {}", std::strerror(err)));

  userlist out;
  auto lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const int line = static_cast<int>(n) + 1;
    std::string_view s = trim(lines[n]);
    if (s.empty() || s.front() == ';' || s.front() == '#') continue;

    std::size_t i = 0;
    // One "..." field with "" standing for a literal quote; false if it is not there.
    auto field = [&](std::string& dst) {
      while (i < s.size() && is_blank(s[i])) ++i;
      if (i >= s.size() || s[i] != '"') return false;
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            dst += '"';
            i += 2;
            continue;
          }
          ++i;
          return true;
        }
        dst += s[i++];
      }
      return false;  // unterminated
    };
    std::string user, password;
    if (!field(user))
      throw config_error(path, line, "broken line: expected \"user name\" \"password\"");
    if (user.empty()) throw config_error(path, line, "broken line: empty user name");
    if (!field(password))
      throw config_error(path, line,
                         fmt::format("broken line: expected a quoted password after \"{}\"", user));
    // The rest of the line is ignored, as PgBouncer does.
    if (auto secret = pgwire::parse_scram_secret(password))
      out.scram[user] = std::move(*secret);
    else
      out.scram.erase(user);  // a later line for the same user replaces an earlier one
    out.passwords[user] = std::move(password);
  }
  return out;
}

}  // namespace sluice
