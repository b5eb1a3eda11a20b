// net/tls: two engines (sluice as TLS server and as TLS client) pumped into each other in
// memory, with a CA and certificates made here: the handshake, data both ways at every split,
// verify-ca / verify-full outcomes, client certificates, moving an engine mid-connection,
// and settings refused with the file or value at fault.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "catch.hpp"
#include "net/tls.hpp"

using sluice::net::tls_context;
using sluice::net::tls_engine;
using sluice::net::tls_settings;
using status = tls_engine::status;

namespace {

struct keyed_cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

void add_ext(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(e);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

/// A certificate for cn, signed by ca (self-signed, as a CA, when ca is null).
keyed_cert make_cert(const char* cn, const keyed_cert* ca, const char* san = nullptr) {
  static long serial = 1;
  keyed_cert k;
  k.key = EVP_EC_gen("P-256");
  REQUIRE(k.key);
  k.cert = X509_new();
  X509_set_version(k.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(k.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(k.cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(k.cert), 3600);
  X509_set_pubkey(k.cert, k.key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(k.cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* issuer = ca ? ca->cert : k.cert;
  X509_set_issuer_name(k.cert, X509_get_subject_name(issuer));
  if (!ca) {
    add_ext(k.cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(k.cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (san) {
    add_ext(k.cert, issuer, NID_subject_alt_name, san);
  }
  REQUIRE(X509_sign(k.cert, ca ? ca->key : k.key, EVP_sha256()) > 0);
  return k;
}

struct files {
  std::string dir;
  files() {
    char t[] = "/tmp/sluice-tls-XXXXXX";
    REQUIRE(mkdtemp(t));
    dir = t;
  }
  ~files() {
    for (const char* f : {"ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem",
                          "client.key"})
      ::unlink((dir + "/" + f).c_str());
    ::rmdir(dir.c_str());
  }
  std::string write(const char* name, const keyed_cert& k, bool key) {
    const std::string path = dir + "/" + name;
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    if (key)
      PEM_write_PrivateKey(f, k.key, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_X509(f, k.cert);
    std::fclose(f);
    return path;
  }
};

/// The CA, a server certificate for localhost / 127.0.0.1, a client certificate for "alice",
/// and a second CA that signed none of them.
struct pki {
  files f;
  std::string ca, other_ca, server_cert, server_key, client_cert, client_key;
  pki() {
    keyed_cert root = make_cert("sluice test CA", nullptr);
    keyed_cert other = make_cert("another CA", nullptr);
    keyed_cert server = make_cert("localhost", &root, "DNS:localhost,IP:127.0.0.1");
    keyed_cert client = make_cert("alice", &root);
    ca = f.write("ca.pem", root, false);
    other_ca = f.write("other-ca.pem", other, false);
    server_cert = f.write("server.pem", server, false);
    server_key = f.write("server.key", server, true);
    client_cert = f.write("client.pem", client, false);
    client_key = f.write("client.key", client, true);
    for (keyed_cert* k : {&root, &other, &server, &client}) {
      X509_free(k->cert);
      EVP_PKEY_free(k->key);
    }
  }
};

pki& the_pki() {
  static pki p;
  return p;
}

std::shared_ptr<const tls_context> accepting(const std::string& ca = {},
                                             const std::string& mode = "require") {
  tls_settings s;
  s.sslmode = mode;
  s.cert_file = the_pki().server_cert;
  s.key_file = the_pki().server_key;
  s.ca_file = ca;
  return std::make_shared<const tls_context>(tls_context::role::accept, s);
}

std::shared_ptr<const tls_context> connecting(const std::string& mode, const std::string& ca,
                                              bool client_cert = false) {
  tls_settings s;
  s.sslmode = mode;
  s.ca_file = ca;
  if (client_cert) {
    s.cert_file = the_pki().client_cert;
    s.key_file = the_pki().client_key;
  }
  return std::make_shared<const tls_context>(tls_context::role::connect, s);
}

/// Moves what `from` has to send into `to`, `chunk` bytes per feed (0 = all at once).
void transfer(tls_engine& from, tls_engine& to, std::size_t chunk = 0) {
  auto& out = from.pending_output();
  std::span<const std::uint8_t> all(out.data(), out.size());
  if (chunk == 0) chunk = all.size() ? all.size() : 1;
  for (std::size_t at = 0; at < all.size(); at += chunk)
    to.feed(all.subspan(at, std::min(chunk, all.size() - at)));
  out.clear();
}

/// Drives both handshakes to their end; the client's and the server's last status.
std::pair<status, status> handshake(tls_engine& client, tls_engine& server,
                                    std::size_t chunk = 0) {
  status c = status::want_read, s = status::want_read;
  for (int round = 0; round < 10000; ++round) {
    if (c == status::want_read) c = client.handshake();
    transfer(client, server, chunk);
    if (s == status::want_read) s = server.handshake();
    transfer(server, client, chunk);
    if (c != status::want_read && s != status::want_read) break;
    if (c == status::error || s == status::error) {
      // Let the other side see the alert.
      if (c == status::want_read) c = client.handshake();
      if (s == status::want_read) s = server.handshake();
      break;
    }
  }
  return {c, s};
}

std::string read_all(tls_engine& e) {
  std::string got;
  std::uint8_t buf[7];  // small on purpose: many reads per record
  for (;;) {
    std::size_t n = 0;
    const status st = e.read(buf, n);
    got.append(reinterpret_cast<const char*>(buf), n);
    if (st != status::ok || n == 0) break;
  }
  return got;
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("tls: verify-full handshake, data both ways, close_notify", "[tls]") {
  tls_engine server(accepting());
  tls_engine client(connecting("verify-full", the_pki().ca), "localhost");
  const auto [c, s] = handshake(client, server);
  REQUIRE(c == status::ok);
  REQUIRE(s == status::ok);
  CHECK(server.describe().rfind("TLSv1.3/", 0) == 0);
  CHECK(client.describe() == server.describe());

  const std::string query = std::string("Q\0\0\0\015select 1\0", 14);
  REQUIRE(client.write(bytes(query)) == status::ok);
  transfer(client, server);
  CHECK(read_all(server) == query);
  const std::string big(100000, 'x');  // several records
  REQUIRE(server.write(bytes(big)) == status::ok);
  transfer(server, client);
  CHECK(read_all(client) == big);

  client.shutdown();
  transfer(client, server);
  std::uint8_t b[16];
  std::size_t n = 0;
  CHECK(server.read(b, n) == status::closed);
}

TEST_CASE("tls: bytes arriving one at a time, and an IP address under verify-full", "[tls]") {
  tls_engine server(accepting());
  tls_engine client(connecting("verify-full", the_pki().ca), "127.0.0.1");
  const auto [c, s] = handshake(client, server, 1);
  REQUIRE(c == status::ok);
  REQUIRE(s == status::ok);
  const std::string msg = "hello over one-byte reads";
  REQUIRE(client.write(bytes(msg)) == status::ok);
  transfer(client, server, 1);
  CHECK(read_all(server) == msg);
}

TEST_CASE("tls: a wrong CA and a wrong host name fail the handshake", "[tls]") {
  {
    tls_engine server(accepting());
    tls_engine client(connecting("verify-ca", the_pki().other_ca), "localhost");
    const auto [c, s] = handshake(client, server);
    CHECK(c == status::error);
    CHECK(s == status::error);
    CHECK(client.error().find("certificate verify failed") != std::string::npos);
  }
  {
    tls_engine server(accepting());
    tls_engine client(connecting("verify-full", the_pki().ca), "db.example.org");
    const auto [c, s] = handshake(client, server);
    CHECK(c == status::error);
    CHECK(client.error().find("certificate verify failed") != std::string::npos);
  }
  {  // verify-ca does not check the name
    tls_engine server(accepting());
    tls_engine client(connecting("verify-ca", the_pki().ca), "db.example.org");
    CHECK(handshake(client, server).first == status::ok);
  }
  {  // require encrypts without checking anything
    tls_engine server(accepting());
    tls_engine client(connecting("require", {}), "db.example.org");
    CHECK(handshake(client, server).first == status::ok);
  }
}

TEST_CASE("tls: client certificates, their CN, and verify-ca without one", "[tls]") {
  {
    tls_engine server(accepting(the_pki().ca, "verify-ca"));
    tls_engine client(connecting("require", {}, true), "localhost");
    const auto [c, s] = handshake(client, server);
    REQUIRE(s == status::ok);
    CHECK(server.peer_common_name() == "alice");
    CHECK(client.peer_common_name() == "localhost");
  }
  {
    tls_engine server(accepting(the_pki().ca, "verify-ca"));
    tls_engine client(connecting("require", {}, false), "localhost");
    const auto [c, s] = handshake(client, server);
    CHECK(s == status::error);
  }
}

TEST_CASE("tls: an engine moved mid-connection carries on", "[tls]") {
  tls_engine server(accepting());
  tls_engine client(connecting("verify-full", the_pki().ca), "localhost");
  REQUIRE(handshake(client, server).second == status::ok);
  tls_engine moved(std::move(server));  // as a hand-off to another shard does
  REQUIRE(client.write(bytes("after the move")) == status::ok);
  transfer(client, moved);
  CHECK(read_all(moved) == "after the move");
}

TEST_CASE("tls: settings refused with the value or file at fault", "[tls]") {
  tls_settings s;
  s.sslmode = "require";
  CHECK_THROWS_WITH(tls_context(tls_context::role::accept, s),
                    Catch::Contains("needs key_file and cert_file"));
  s.cert_file = the_pki().f.dir + "/missing.pem";
  s.key_file = the_pki().server_key;
  CHECK_THROWS_WITH(tls_context(tls_context::role::accept, s),
                    Catch::StartsWith("cert_file " + s.cert_file));
  s.cert_file = the_pki().client_cert;  // another certificate than the key's
  CHECK_THROWS_WITH(tls_context(tls_context::role::accept, s), Catch::StartsWith("key_file "));
  tls_settings c;
  c.sslmode = "verify-full";  // a server is verified against the system's CA store
  CHECK(tls_context(tls_context::role::connect, c).verifies_host());
  tls_settings a;  // a client certificate needs a CA of the operator's own
  a.sslmode = "verify-ca";
  a.cert_file = the_pki().server_cert;
  a.key_file = the_pki().server_key;
  CHECK_THROWS_WITH(tls_context(tls_context::role::accept, a), Catch::Contains("needs ca_file"));
  c.sslmode = "require";
  c.protocols = "tlsv1.1,tlsv1.3";
  CHECK_THROWS_WITH(tls_context(tls_context::role::connect, c), Catch::Contains("leave a gap"));
  c.protocols = "tlsv1.4";
  CHECK_THROWS_WITH(tls_context(tls_context::role::connect, c), Catch::Contains("unknown TLS protocol"));
  c.protocols = "tlsv1.2";
  c.ciphers = "NO-SUCH-CIPHER";
  CHECK_THROWS_WITH(tls_context(tls_context::role::connect, c), Catch::StartsWith("ciphers"));
}

TEST_CASE("tls: a read takes every whole record; buffered() says when one is left", "[tls]") {
  tls_engine server(accepting());
  tls_engine client(connecting("require", {}), "localhost");
  REQUIRE(handshake(client, server) == std::pair{status::ok, status::ok});
  // Three writes: three records, fed at once.
  for (const char* part : {"first,", "second,", "third"})
    REQUIRE(client.write(bytes(part)) == status::ok);
  transfer(client, server);
  CHECK(server.buffered());
  std::uint8_t buf[64];
  std::size_t n = 0;
  REQUIRE(server.read(buf, n) == status::ok);
  CHECK(std::string(reinterpret_cast<const char*>(buf), n) == "first,second,third");
  CHECK_FALSE(server.buffered());
  CHECK(server.read(buf, n) == status::want_read);
  CHECK(n == 0);

  // A read that fills its buffer leaves the rest buffered: the relay must not wait for the
  // socket then.
  REQUIRE(client.write(bytes("0123456789")) == status::ok);
  transfer(client, server);
  std::uint8_t small[4];
  REQUIRE(server.read(small, n) == status::ok);
  CHECK(n == 4);
  CHECK(server.buffered());

  // Half a record: once a read has found it short, more must come from the socket first.
  REQUIRE(server.read(buf, n) == status::ok);
  CHECK(n == 6);
  REQUIRE(client.write(bytes("later")) == status::ok);
  auto& out = client.pending_output();
  const std::vector<std::uint8_t> rec(out.begin(), out.end());
  out.clear();
  server.feed({rec.data(), rec.size() / 2});
  CHECK(server.read(buf, n) == status::want_read);
  CHECK_FALSE(server.buffered());
  server.feed({rec.data() + rec.size() / 2, rec.size() - rec.size() / 2});
  CHECK(server.buffered());
  REQUIRE(server.read(buf, n) == status::ok);
  CHECK(std::string(reinterpret_cast<const char*>(buf), n) == "later");
}

TEST_CASE("tls: take_output hands over what is queued, output_written drops it", "[tls]") {
  tls_engine server(accepting());
  tls_engine client(connecting("require", {}), "localhost");
  REQUIRE(handshake(client, server) == std::pair{status::ok, status::ok});
  REQUIRE(client.write(bytes("abc")) == status::ok);
  std::vector<std::uint8_t> taken;
  client.take_output(taken);
  CHECK_FALSE(taken.empty());
  CHECK_FALSE(client.has_output());
  server.feed(taken);
  CHECK(read_all(server) == "abc");
  REQUIRE(client.write(bytes("def")) == status::ok);
  CHECK(client.has_output());
  client.output_written();
  CHECK_FALSE(client.has_output());
}
