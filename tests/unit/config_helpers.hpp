#pragma once
// Helpers the config unit tests share: files in a scratch directory, and the error a call
// must throw.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "sluice/config.hpp"

namespace config_test {

/// A fresh directory under /tmp, removed with everything in it at scope exit.
struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl = "/tmp/sluice-config-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// Writes name (relative to the directory) and returns its full path.
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream f(p, std::ios::binary);
    f << text;
    REQUIRE(f.good());
    return p;
  }
};

/// Runs fn, which must throw config_error; returns it.
template <typename F>
sluice::config_error expect_error(F&& fn) {
  try {
    fn();
  } catch (const sluice::config_error& e) {
    return e;
  }
  FAIL("expected a config_error");
  return sluice::config_error("", 0, "");
}

}  // namespace config_test
