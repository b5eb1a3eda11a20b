// libFuzzer target: the files an operator writes, read as sluice reads them at start and on
// every reload: pgbouncer.ini, sluice.toml, userlist.txt, pg_hba.conf and pg_ident.conf.
// The first byte picks the reader, the rest is the file. Whatever the bytes, the reader
// returns or throws config_error carrying the file and a message; nothing else escapes.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "sluice/config.hpp"

namespace {

const std::string& work_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/sluice-fuzz-config.XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    return std::string(tmpl);
  }();
  return dir;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const names[] = {"f.ini", "f.toml", "userlist.txt", "pg_hba.conf",
                                      "pg_ident.conf"};
  const unsigned kind = data[0] % 5;
  const std::string path = work_dir() + "/" + names[kind];
  write_file(path, data + 1, size - 1);
  try {
    switch (kind) {
      case 0:
      case 1: {
        sluice::config c = sluice::load_config(path);
        (void)c;
        break;
      }
      case 2: (void)sluice::load_userlist(path); break;
      case 3: (void)sluice::load_hba(path); break;
      case 4: (void)sluice::load_ident(path); break;
    }
  } catch (const sluice::config_error& e) {
    if (e.file().empty() || std::string(e.what()).empty()) std::abort();
  }
  return 0;
}
