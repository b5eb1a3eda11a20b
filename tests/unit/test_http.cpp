// The HTTP endpoint's routing (http/router.hpp) and the histograms /metrics reports.
#include <unistd.h>

#include <fstream>

#include "catch.hpp"
#include "http/router.hpp"
#include "pool/histogram.hpp"

using sluice::http::endpoint;
using sluice::http::method;
using sluice::http::route;

namespace {

const std::string token = "s3cret";

}  // namespace

TEST_CASE("http: GET endpoints route without a token", "[http]") {
  for (auto [path, ep] : {std::pair{"/healthz", endpoint::healthz}, {"/readyz", endpoint::readyz},
                          {"/metrics", endpoint::metrics}, {"/stats", endpoint::stats}}) {
    const auto r = route(method::get, path, "", nullptr);
    REQUIRE(r.ep);
    CHECK(*r.ep == ep);
    CHECK(r.database.empty());
  }
  const auto ready = route(method::get, "/readyz?database=bench", "", nullptr);
  REQUIRE(ready.ep);
  CHECK(ready.database == "bench");
}

TEST_CASE("http: unknown paths are 404, wrong methods 405 with Allow", "[http]") {
  CHECK(route(method::get, "/nope", "", &token).status == 404);
  CHECK(route(method::get, "/metrics/", "", &token).status == 404);
  const auto get_reload = route(method::get, "/reload", "", &token);
  CHECK(get_reload.status == 405);
  CHECK(get_reload.allow == "POST");
  const auto post_metrics = route(method::post, "/metrics", "Bearer s3cret", &token);
  CHECK(post_metrics.status == 405);
  CHECK(post_metrics.allow == "GET");
  CHECK(route(method::other, "/healthz", "", &token).status == 405);
  CHECK(route(method::get, "http://[", "", &token).status == 400);
}

TEST_CASE("http: query parameters", "[http]") {
  const auto r = route(method::post, "/pause?database=my%20db", "Bearer s3cret", &token);
  REQUIRE(r.ep);
  CHECK(*r.ep == endpoint::pause);
  CHECK(r.database == "my db");
  CHECK(route(method::post, "/reload?database=x", "Bearer s3cret", &token).status == 400);
  CHECK(route(method::get, "/metrics?x=1", "", &token).status == 400);
  CHECK(route(method::get, "/metrics?", "", &token).ep);  // a bare "?" is no parameter
  CHECK(route(method::post, "/pause?database=", "Bearer s3cret", &token).status == 400);
  CHECK(route(method::post, "/pause?database", "Bearer s3cret", &token).status == 400);
  CHECK(route(method::post, "/pause?database=a&database=b", "Bearer s3cret", &token).status == 400);
  CHECK(route(method::post, "/pause?db=a", "Bearer s3cret", &token).status == 400);
}

TEST_CASE("http: commands need the bearer token", "[http]") {
  const auto none = route(method::post, "/reload", "", &token);
  CHECK(none.status == 401);
  CHECK(none.challenge);
  CHECK(route(method::post, "/reload", "Bearer nope", &token).status == 401);
  CHECK(route(method::post, "/reload", "Bearer s3cret2", &token).status == 401);
  CHECK(route(method::post, "/reload", "Bearer s3cre", &token).status == 401);
  CHECK(route(method::post, "/reload", "Basic s3cret", &token).status == 401);
  CHECK(route(method::post, "/reload", "Bearer ", &token).status == 401);
  CHECK(route(method::post, "/reload", "s3cret", &token).status == 401);
  const auto ok = route(method::post, "/reload", "bearer s3cret", &token);  // scheme: any case
  REQUIRE(ok.ep);
  CHECK(*ok.ep == endpoint::reload);
  // Without a token file, control is off: 403 whatever is presented.
  CHECK(route(method::post, "/reload", "Bearer s3cret", nullptr).status == 403);
  CHECK(route(method::post, "/kill?database=x", "", nullptr).status == 403);
  for (auto [path, ep] : {std::pair{"/pause", endpoint::pause}, {"/resume", endpoint::resume},
                          {"/reconnect", endpoint::reconnect}, {"/disable", endpoint::disable},
                          {"/enable", endpoint::enable}, {"/kill", endpoint::kill}}) {
    const auto r = route(method::post, path, "Bearer s3cret", &token);
    REQUIRE(r.ep);
    CHECK(*r.ep == ep);
    CHECK(route(method::post, path, "", &token).status == 401);
  }
}

TEST_CASE("http: token comparison", "[http]") {
  using sluice::http::token_matches;
  CHECK(token_matches("abc", "abc"));
  CHECK_FALSE(token_matches("abd", "abc"));
  CHECK_FALSE(token_matches("ab", "abc"));
  CHECK_FALSE(token_matches("abcd", "abc"));
  CHECK_FALSE(token_matches("", ""));
  CHECK_FALSE(token_matches("x", ""));
}

TEST_CASE("http: the token file", "[http]") {
  char dir[] = "/tmp/sluice-http-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string f = std::string(dir) + "/token";
  std::ofstream(f) << "tok-123\n";
  CHECK(sluice::http::load_token(f) == "tok-123");
  std::ofstream(f) << "\n";
  CHECK_THROWS_WITH(sluice::http::load_token(f), f + ": http_auth_token_file is empty");
  std::ofstream(f) << "two words\n";
  CHECK_THROWS_WITH(sluice::http::load_token(f), Catch::Contains("one token"));
  CHECK_THROWS_WITH(sluice::http::load_token(f + ".missing"),
                    Catch::StartsWith(f + ".missing: cannot read http_auth_token_file"));
  ::unlink(f.c_str());
  ::rmdir(dir);
}

TEST_CASE("http: histogram buckets are inclusive upper bounds", "[http]") {
  sluice::latency_histogram h;
  h.observe(0);
  h.observe(100);       // le 0.0001
  h.observe(101);       // le 0.00025
  h.observe(10000000);  // le 10
  h.observe(10000001);  // above every bound
  sluice::histogram_totals t;
  h.add_to(t);
  CHECK(t.buckets[0] == 2);
  CHECK(t.buckets[1] == 1);
  CHECK(t.buckets[sluice::latency_bounds_us.size() - 1] == 1);
  CHECK(t.buckets.back() == 1);
  CHECK(t.count() == 5);
  CHECK(t.sum_us == 0 + 100 + 101 + 10000000 + 10000001);
  sluice::histogram_totals twice = t;
  twice += t;
  CHECK(twice.count() == 10);
}
