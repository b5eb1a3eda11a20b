// libFuzzer target: a console statement as the admin console reads it (the text of a Query
// message on the `pgbouncer` database): the statement, then its argument as each command
// family parses it. Whatever the bytes, nothing crashes, and what parses re-parses the same
// once quoted again.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/statement.hpp"

namespace {

std::string quoted(const std::string& s, char q) {
  std::string out(1, q);
  for (char c : s) {
    out.push_back(c);
    if (c == q) out.push_back(q);
  }
  out.push_back(q);
  return out;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  std::string verb, what, arg;
  if (!sluice::parse_admin_statement(sql, verb, what, arg)) return 0;
  if (verb.empty()) std::abort();
  for (char c : verb + what)
    if (std::islower(static_cast<unsigned char>(c))) std::abort();
  if (!arg.empty() && (is_space(arg.front()) || is_space(arg.back()))) std::abort();

  std::string name;
  if (sluice::parse_one_arg(arg, name)) {
    std::string again;
    if (!sluice::parse_one_arg(quoted(name, '"'), again) || again != name) std::abort();
  }
  unsigned long long id = 0;
  if (sluice::parse_client_id(arg, id) && std::to_string(id).size() > arg.size()) std::abort();

  std::string key, value;
  if (sluice::parse_set_args(arg, key, value) == sluice::set_syntax::ok) {
    if (key.empty()) std::abort();
    std::string key2, value2;
    if (sluice::parse_set_args(key + " = " + quoted(value, '\''), key2, value2) !=
            sluice::set_syntax::ok ||
        key2 != key || value2 != value)
      std::abort();
  }
  return 0;
}
