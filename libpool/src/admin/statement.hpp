#pragma once
// The console's statement grammar as text: no state, no I/O. The dispatch (admin.cpp) and the
// commands (process_commands.cpp) call it; the fuzz target builds this file alone.

#include <string>
#include <string_view>

namespace sluice {

/// Parses "SHOW POOLS", "select version", "PAUSE bench", "SET key = value"...; false if the
/// text is not a console statement. `verb` and `what` come upper case ("SELECT x" is "SHOW x").
bool parse_admin_statement(std::string_view sql, std::string& verb, std::string& what,
                           std::string& arg);

/// A command's one optional argument: a word, or a "quoted" name ("" inside is one ").
/// False if there is more.
bool parse_one_arg(std::string_view arg, std::string& out);

/// The arguments of SET: `key = value` or `key TO value`, the value a word or a 'string'
/// ('' inside is one '), a trailing ';' allowed. The key comes lower case.
enum class set_syntax { ok, not_set, bad_value };
set_syntax parse_set_args(std::string_view arg, std::string& key, std::string& value);

/// The id KILL_CLIENT takes: decimal digits only.
bool parse_client_id(std::string_view arg, unsigned long long& id);

std::string_view trim_space(std::string_view s);

}  // namespace sluice
