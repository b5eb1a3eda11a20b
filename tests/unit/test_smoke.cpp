#include "catch.hpp"
#include "pgwire/framer.hpp"
TEST_CASE("framer needs the five header bytes before anything", "[framer]") {
  const std::uint8_t b[] = {'Q', 0, 0};
  CHECK(pgwire::frame_message(b, 1024).status == pgwire::frame_status::need_more);
}
