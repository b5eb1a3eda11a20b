#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "catch.hpp"
#include "pgwire/crypto.hpp"

using namespace pgwire;

namespace {

// Expected values below were computed independently with Python's hashlib/hmac/base64, e.g.
//   hashlib.md5(b"secretbob").hexdigest()
//   hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
// followed by HMAC(SaltedPassword, "Client Key") / "Server Key" and SHA256(ClientKey).
constexpr std::string_view pencil_secret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::string rfc7677_salt() {
  return *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
}

}  // namespace

TEST_CASE("base64 encodes the RFC 4648 test vectors and decodes them back", "[crypto][base64]") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(base64_encode(plain) == encoded);
    const auto back = base64_decode(encoded);
    REQUIRE(back);
    CHECK(*back == plain);
  }
}

TEST_CASE("base64 round-trips every byte value", "[crypto][base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); len += 37) {
    const std::string in = all.substr(0, len);
    const auto back = base64_decode(base64_encode(in));
    REQUIRE(back);
    CHECK(*back == in);
  }
}

TEST_CASE("base64_decode is strict", "[crypto][base64]") {
  const std::string_view bad[] = {
      "Zg",        // not padded
      "Zg=",       // short padding
      "Z===",      // three padding characters
      "====",      // only padding
      "Zm=v",      // padding in the middle of a group
      "Zg==Zm9v",  // padding before the last group
      "Zh==",      // leftover bits not zero: a second spelling of "f"
      "Zm9=",      // same, one padding character
      "Zm9v\n",    // whitespace
      "Zm 9v",
      "Zm9v====",  // a group of pure padding
      "Zm-_",      // the URL-safe alphabet
      std::string_view("Zm\0v", 4),
  };
  for (auto b : bad) {
    CAPTURE(b);
    CHECK_FALSE(base64_decode(b));
  }
}

TEST_CASE("random_bytes fills the buffer with fresh bytes", "[crypto]") {
  std::array<std::uint8_t, 32> a{}, b{};
  REQUIRE(random_bytes(a));
  REQUIRE(random_bytes(b));
  CHECK(a != b);  // 2^-256 chance of a false failure
  CHECK(a != std::array<std::uint8_t, 32>{});
  CHECK(random_bytes(std::span<std::uint8_t>()));
}

TEST_CASE("random_bytes: small draws never repeat, across a fork too", "[crypto]") {
  // Small draws come from a per-thread reserve: draws taken in turn differ, and a child
  // process does not hand out the bytes its parent's reserve still holds.
  std::set<std::array<std::uint8_t, 16>> seen;
  for (int i = 0; i < 200; ++i) {  // several refills of the reserve
    std::array<std::uint8_t, 16> d{};
    REQUIRE(random_bytes(d));
    CHECK(seen.insert(d).second);
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::array<std::uint8_t, 16> d{};
    const bool ok = random_bytes(d) && ::write(fds[1], d.data(), d.size()) == 16;
    ::_exit(ok ? 0 : 1);
  }
  std::array<std::uint8_t, 16> mine{}, theirs{};
  REQUIRE(random_bytes(mine));
  REQUIRE(::read(fds[0], theirs.data(), theirs.size()) == 16);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK(mine != theirs);
}

TEST_CASE("constant_time_equal compares contents and lengths", "[crypto]") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "secret1"));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  CHECK_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("md5 password hash and salted response match known values", "[crypto][md5]") {
  // md5("secret" + "bob")
  const std::string hash = md5_password_hash("bob", "secret");
  CHECK(hash == "md521f3163f8f86fa10bdefbfbd502a8f06");
  const std::uint8_t salt[4] = {1, 2, 3, 4};
  // md5("21f3...8f06" + "\x01\x02\x03\x04")
  CHECK(md5_salted_response(hash, salt) == "md5f21dfe33ff3a9e03dbc3e008251fe5cc");
  const std::uint8_t other_salt[4] = {1, 2, 3, 5};
  CHECK(md5_salted_response(hash, other_salt) != "md5f21dfe33ff3a9e03dbc3e008251fe5cc");
  // Argument order matters: password then user.
  CHECK(md5_password_hash("secret", "bob") != hash);
}

TEST_CASE("make_scram_secret matches an independently derived PostgreSQL secret",
          "[crypto][scram]") {
  const scram_secret s = make_scram_secret("pencil", rfc7677_salt(), 4096);
  CHECK(s.iterations == 4096);
  CHECK(s.salt == rfc7677_salt());
  CHECK(format_scram_secret(s) == pencil_secret);
  // A different password, salt or iteration count gives a different secret.
  CHECK(format_scram_secret(make_scram_secret("pencil2", rfc7677_salt(), 4096)) != pencil_secret);
  CHECK(format_scram_secret(make_scram_secret("pencil", "other salt", 4096)) != pencil_secret);
  CHECK(format_scram_secret(make_scram_secret("pencil", rfc7677_salt(), 4097)) != pencil_secret);
}

TEST_CASE("make_scram_secret refuses bad parameters", "[crypto][scram]") {
  CHECK(make_scram_secret("pw", "salt", 0).iterations == 0);
  CHECK(make_scram_secret("pw", "salt", -5).iterations == 0);
  CHECK(make_scram_secret("pw", "salt", 10'000'001).iterations == 0);
  CHECK(make_scram_secret("pw", "", 4096).iterations == 0);
  CHECK(make_scram_secret("", "salt", 1).iterations == 1);  // an empty password is derivable
}

TEST_CASE("parse_scram_secret reads a PostgreSQL secret and format is its inverse",
          "[crypto][scram]") {
  const auto s = parse_scram_secret(pencil_secret);
  REQUIRE(s);
  CHECK(s->iterations == 4096);
  CHECK(s->salt == rfc7677_salt());
  CHECK(base64_encode(s->stored_key) == "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  CHECK(base64_encode(s->server_key) == "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  CHECK(format_scram_secret(*s) == pencil_secret);
}

TEST_CASE("parse_scram_secret rejects malformed secrets", "[crypto][scram]") {
  const std::string key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
  const std::string key31 = base64_encode(std::string(31, 'k'));
  const std::string key33 = base64_encode(std::string(33, 'k'));
  const std::string salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
  auto make = [](std::string_view iter, std::string_view s, std::string_view k1,
                 std::string_view k2) {
    return "SCRAM-SHA-256$" + std::string(iter) + ":" + std::string(s) + "$" + std::string(k1) +
           ":" + std::string(k2);
  };
  REQUIRE(parse_scram_secret(make("4096", salt, key, key)));  // the baseline is valid
  const std::string bad[] = {
      "",
      "SCRAM-SHA-256$",
      "scram-sha-256$4096:" + salt + "$" + key + ":" + key,
      "SCRAM-SHA-1$4096:" + salt + "$" + key + ":" + key,
      make("0", salt, key, key),
      make("-1", salt, key, key),
      make("+4096", salt, key, key),
      make("04096", salt, key, key),
      make("10000001", salt, key, key),
      make("99999999999999999999", salt, key, key),
      make("40x6", salt, key, key),
      make("", salt, key, key),
      make("4096", "", key, key),
      make("4096", "not base64!", key, key),
      make("4096", salt, key31, key),
      make("4096", salt, key, key33),
      make("4096", salt, key, ""),
      make("4096", salt, key, key) + "$",
      make("4096", salt, key, key) + ":" + key,
      make("4096", salt, key, key) + " ",
      "SCRAM-SHA-256$4096:" + salt + "$" + key,
      "SCRAM-SHA-256$4096$" + salt + "$" + key + ":" + key,
  };
  for (const auto& b : bad) {
    CAPTURE(b);
    CHECK_FALSE(parse_scram_secret(b));
  }
}

TEST_CASE("classify_password tells plain, md5 and SCRAM apart", "[crypto]") {
  CHECK(classify_password("md521f3163f8f86fa10bdefbfbd502a8f06") == password_kind::md5);
  CHECK(classify_password(pencil_secret) == password_kind::scram);
  CHECK(classify_password("secret") == password_kind::plain);
  CHECK(classify_password("") == password_kind::plain);
  // Near misses are plain passwords, exactly as PostgreSQL treats them.
  CHECK(classify_password("md521F3163F8F86FA10BDEFBFBD502A8F06") == password_kind::plain);
  CHECK(classify_password("md521f3163f8f86fa10bdefbfbd502a8f0") == password_kind::plain);
  CHECK(classify_password("md521f3163f8f86fa10bdefbfbd502a8f066") == password_kind::plain);
  CHECK(classify_password("md521f3163f8f86fa10bdefbfbd502a8f0g") == password_kind::plain);
  CHECK(classify_password(std::string(pencil_secret) + "x") == password_kind::plain);
  CHECK(classify_password("SCRAM-SHA-256$4096:salt") == password_kind::plain);
}
