#pragma once
/// @file scanner.hpp
/// Message boundaries in a relayed stream. A relay forwards bytes as they arrive and never
/// holds a whole DataRow or CopyData; it only needs to know where messages start and, for a
/// few small ones (ReadyForQuery, ParameterStatus), their bodies. The scanner walks headers
/// across arbitrary read boundaries and collects just the bodies it is asked for.

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "pgwire/framer.hpp"
#include "pgwire/writer.hpp"

namespace pgwire {

class stream_scanner {
 public:
  /// `max_len` bounds every declared length (max_packet_size); `max_keep` bounds the bodies
  /// collected whole.
  explicit stream_scanner(std::uint32_t max_len = 0x7fffffff, std::uint32_t max_keep = 1u << 16)
      : max_len_(max_len), max_keep_(max_keep) {}

  /// Walks `in`. For each message: `want(tag)` decides if its body is needed whole; then
  /// `on(tag, body, header_end)` is called once per message — at its header with an empty body
  /// when not wanted, or when the whole body has arrived when wanted. `header_end` is the
  /// offset in `in` just past the header, or 0 if the message began in an earlier call (for a
  /// wanted message: unless all of it is in this call, header and body). `on` may take a
  /// fourth argument, the offset in `in` just past the bytes the call reports (the header, or
  /// the whole message when wanted).
  /// Returns the first framing error (the stream is unusable after it).
  template <class Want, class On>
  errc feed(bytes_view in, Want&& want, On&& on) {
    std::size_t i = 0;
    if (in_body_) header_end_ = 0;  // the message under way began in an earlier call
    while (i < in.size() || (in_body_ && remaining_ == 0)) {
      if (!in_body_) {
        const std::size_t take = std::min<std::size_t>(5u - hdr_len_, in.size() - i);
        std::memcpy(hdr_ + hdr_len_, in.data() + i, take);
        const bool split = hdr_len_ > 0;
        hdr_len_ = static_cast<std::uint8_t>(hdr_len_ + take);
        i += take;
        if (hdr_len_ < 5) break;
        hdr_len_ = 0;
        const header_result h = peek_header(bytes_view(hdr_, 5), max_len_);
        if (h.status == frame_status::error) return h.error;
        tag_ = h.tag;
        remaining_ = h.body_len;
        in_body_ = true;
        keeping_ = want(tag_);
        kept_.clear();
        if (keeping_ && remaining_ > max_keep_) return errc::length_too_large;
        if (!keeping_) report(on, bytes_view{}, split ? std::size_t(0) : i, i);
        header_end_ = split ? 0 : i;
      }
      const std::size_t take = std::min<std::size_t>(remaining_, in.size() - i);
      if (keeping_) {
        if (kept_.empty() && take == remaining_) {
          // The whole body is in this chunk: no copy.
          remaining_ = 0;
          in_body_ = false;
          i += take;
          report(on, in.subspan(i - take, take), header_end_, i);
          continue;
        }
        kept_.insert(kept_.end(), in.data() + i, in.data() + i + take);
      }
      remaining_ -= static_cast<std::uint32_t>(take);
      i += take;
      if (remaining_ == 0) {
        in_body_ = false;
        // Collected across calls: the header is not in `in`.
        if (keeping_) report(on, bytes_view(kept_), std::size_t(0), i);
      }
    }
    return errc::ok;
  }

  /// Bytes of a message header seen so far when a header is incomplete, else 0. A relay holds
  /// them back until the header is whole and checked, so that no part of a message it refuses
  /// (too long) has been forwarded.
  std::size_t partial_header() const noexcept { return in_body_ ? 0 : hdr_len_; }
  /// True between messages: no header or body partly seen.
  bool at_boundary() const noexcept { return !in_body_ && hdr_len_ == 0; }
  /// After feed(in) with `in_size` bytes: the offset in that input where a message still
  /// incomplete begins, if it is one whose body is collected (or a partial header whose tag
  /// `wanted` accepts); `in_size` otherwise. The bytes from there on are with the scanner,
  /// which reports the message whole once it has arrived.
  template <class Want>
  std::size_t incomplete_from(std::size_t in_size, Want&& wanted) const {
    if (in_body_) {
      if (!keeping_) return in_size;
      return header_end_ >= 5 ? header_end_ - 5 : 0;
    }
    if (hdr_len_ == 0 || !wanted(static_cast<char>(hdr_[0]))) return in_size;
    return in_size - std::min<std::size_t>(hdr_len_, in_size);
  }
  /// Gives back the memory of collected bodies (only between messages).
  void shrink() {
    if (at_boundary()) byte_buffer().swap(kept_);
  }
  void reset() noexcept {
    in_body_ = false;
    hdr_len_ = 0;
    remaining_ = 0;
    kept_.clear();
  }

 private:
  template <class On>
  void report(On& on, bytes_view body, std::size_t header_end, std::size_t end) {
    if constexpr (std::is_invocable_v<On&, char, bytes_view, std::size_t, std::size_t>) {
      on(tag_, body, header_end, end);
    } else {
      on(tag_, body, header_end);
    }
  }

  // Laid out small: every relayed connection carries one.
  std::uint32_t max_len_, max_keep_;
  std::uint32_t remaining_ = 0;
  std::uint8_t hdr_[5] = {};
  std::uint8_t hdr_len_ = 0;
  char tag_ = 0;
  bool in_body_ = false, keeping_ = false;
  std::size_t header_end_ = 0;
  byte_buffer kept_;
};

}  // namespace pgwire
