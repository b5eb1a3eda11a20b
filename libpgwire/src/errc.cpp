#include "pgwire/errc.hpp"

#include <string>

namespace pgwire {
namespace {

class pgwire_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "pgwire"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::length_too_small: return "message length too small";
      case errc::length_too_large: return "message length exceeds the maximum";
      case errc::truncated: return "message truncated";
      case errc::trailing_bytes: return "unexpected bytes at the end of a message";
      case errc::bad_field: return "invalid field value";
      case errc::unsupported_protocol: return "unsupported protocol version";
      case errc::unexpected_message: return "unexpected message";
      case errc::auth_failed: return "authentication failed";
      case errc::auth_unsupported: return "unsupported authentication method";
      case errc::bad_secret: return "malformed password secret";
      case errc::server_signature_mismatch: return "server SCRAM signature mismatch";
      case errc::crypto_failure: return "cryptographic operation failed";
      case errc::no_password:
        return "the server asks for a password, and none is configured (neither in [databases] "
               "nor in auth_file)";
      case errc::password_is_md5_hash:
        return "wrong password type: the password in auth_file is an MD5 hash, which answers "
               "only MD5 authentication (store the plaintext password, or the role's SCRAM "
               "secret)";
      case errc::password_is_scram_secret:
        return "wrong password type: the password in auth_file is a SCRAM secret, which "
               "answers only SCRAM authentication (store the plaintext password, or the "
               "role's MD5 hash)";
      case errc::scram_keys_unknown:
        return "wrong password type: the password in auth_file is a SCRAM secret, and no "
               "client has logged in with SCRAM yet to supply its keys";
      case errc::scram_iterations_too_many:
        static_assert(max_server_scram_iterations == 100000, "the text below says 100000");
        return "the server asked for more than 100000 SCRAM iterations";
    }
    return "unknown pgwire error";
  }
};

}  // namespace

const boost::system::error_category& category() noexcept {
  static const pgwire_category cat;
  return cat;
}

}  // namespace pgwire
