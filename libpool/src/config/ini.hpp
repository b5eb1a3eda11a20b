#pragma once
// The ini reader's raw mode, for --convert-config. Internal to libpool.

#include <string>
#include <vector>

#include "sluice/config.hpp"

namespace sluice::config_detail {

/// One `key = value` line as the ini reader saw it, %include resolved.
struct ini_entry {
  std::string section;  ///< lower-cased
  std::string key;      ///< as written (database and user names keep their case)
  std::string value;
  std::string file;
  int line = 0;
};

/// The error for an auth_type that checks passwords against auth_file (plain, md5,
/// scram-sha-256) when auth_file is not set; empty if there is none.
std::string missing_auth_file(const config& c);
/// With auth_type = hba, reads auth_hba_file (and auth_ident_file, if set) into c.hba
/// (throws config_error).
void load_hba_rules(config& c);

/// Every entry of an ini file in file order, without applying them; throws config_error
/// (with all()) on syntax errors, unknown sections or a missing [pgbouncer] section.
std::vector<ini_entry> read_ini_entries(const std::string& path);

}  // namespace sluice::config_detail
