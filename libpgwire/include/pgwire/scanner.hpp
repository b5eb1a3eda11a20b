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

/// How much of a message's body the scanner collects before reporting the message.
struct collect {
  enum class mode : std::uint8_t {
    none,   ///< nothing: reported at its header, the body streams
    whole,  ///< the whole body
    head,   ///< the body's first `strings` C strings; the rest streams
  };
  mode m = mode::none;
  std::uint8_t strings = 0;
  /// head: when the first string is not empty, the whole body instead (a named Parse, whose
  /// query text is kept; an unnamed one streams).
  bool whole_if_named = false;

  static constexpr collect nothing() noexcept { return {}; }
  static constexpr collect whole() noexcept { return {mode::whole}; }
  static constexpr collect head(std::uint8_t n, bool whole_if_named = false) noexcept {
    return {mode::head, n, whole_if_named};
  }
};

class stream_scanner {
 public:
  /// `max_len` bounds every declared length (max_packet_size); `max_keep` bounds the bodies
  /// (and heads) collected.
  explicit stream_scanner(std::uint32_t max_len = 0x7fffffff, std::uint32_t max_keep = 1u << 16)
      : max_len_(max_len), max_keep_(max_keep) {}

  /// Walks `in`. For each message: `want(tag)` says how much of its body is needed (a bool:
  /// all or nothing; or a `collect`); then `on(tag, body, header_end)` is called once per
  /// message — at its header with an empty body when nothing is wanted, when the whole body
  /// has arrived when it is wanted whole, or when its head has arrived (body is then the head,
  /// shorter than message_length(); the rest of the body streams, unreported). `header_end`
  /// is the offset in `in` just past the header, or 0 if the message began in an earlier call
  /// (for a collected message: unless all of what is reported is in this call, header
  /// included). `on` may take a fourth argument, the offset in `in` just past the bytes the
  /// call reports (the header, or the header and what is collected).
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
        remaining_ = body_len_ = h.body_len;
        in_body_ = true;
        const collect c = as_collect(want(tag_));
        mode_ = c.m;
        strings_left_ = c.strings;
        whole_if_named_ = c.whole_if_named;
        kept_.clear();
        if (mode_ == collect::mode::whole && remaining_ > max_keep_) return errc::length_too_large;
        if (mode_ == collect::mode::none) report(on, bytes_view{}, split ? std::size_t(0) : i, i);
        header_end_ = split ? 0 : i;
      }
      const std::size_t take = std::min<std::size_t>(remaining_, in.size() - i);
      if (mode_ == collect::mode::head) {
        const errc e = feed_head(in, i, take, on);
        if (e != errc::ok) return e;
        continue;
      }
      if (mode_ == collect::mode::whole) {
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
        if (mode_ == collect::mode::whole) report(on, bytes_view(kept_), std::size_t(0), i);
      }
    }
    return errc::ok;
  }

  /// The declared body length of the message last reported (or under way).
  std::uint32_t message_length() const noexcept { return body_len_; }
  /// Bytes of a message header seen so far when a header is incomplete, else 0. A relay holds
  /// them back until the header is whole and checked, so that no part of a message it refuses
  /// (too long) has been forwarded.
  std::size_t partial_header() const noexcept { return in_body_ ? 0 : hdr_len_; }
  /// True between messages: no header or body partly seen.
  bool at_boundary() const noexcept { return !in_body_ && hdr_len_ == 0; }
  /// After feed(in) with `in_size` bytes: the offset in that input where a message still
  /// incomplete begins, if it is one whose body (or head) is being collected (or a partial
  /// header whose tag `wanted` accepts); `in_size` otherwise. The bytes from there on are
  /// with the scanner, which reports the message once what it collects has arrived.
  template <class Want>
  std::size_t incomplete_from(std::size_t in_size, Want&& wanted) const {
    if (in_body_) {
      if (mode_ == collect::mode::none) return in_size;
      return header_end_ >= 5 ? header_end_ - 5 : 0;
    }
    if (hdr_len_ == 0 || as_collect(wanted(static_cast<char>(hdr_[0]))).m == collect::mode::none)
      return in_size;
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
  static collect as_collect(bool b) noexcept { return b ? collect::whole() : collect::nothing(); }
  static collect as_collect(collect c) noexcept { return c; }

  template <class On>
  void report(On& on, bytes_view body, std::size_t header_end, std::size_t end) {
    if constexpr (std::is_invocable_v<On&, char, bytes_view, std::size_t, std::size_t>) {
      on(tag_, body, header_end, end);
    } else {
      on(tag_, body, header_end);
    }
  }

  /// Head mode: in[i, i + take) is the next part of the body. Looks for the NULs that end
  /// the strings still wanted, only in bytes not looked at before.
  template <class On>
  errc feed_head(bytes_view in, std::size_t& i, std::size_t take, On& on) {
    const std::uint8_t* base = in.data() + i;
    std::size_t p = 0;
    while (strings_left_ > 0 && p < take) {
      const void* z = std::memchr(base + p, 0, take - p);
      if (!z) {
        p = take;
        break;
      }
      p = static_cast<std::size_t>(static_cast<const std::uint8_t*>(z) - base) + 1;
      --strings_left_;
    }
    if (strings_left_ > 0 && take < remaining_) {  // not yet: keep what came
      if (kept_.size() + take > max_keep_) return errc::length_too_large;
      kept_.insert(kept_.end(), base, base + take);
      remaining_ -= static_cast<std::uint32_t>(take);
      i += take;
      return errc::ok;
    }
    // The head is complete (or the body ended first: then the head is all of it).
    const bool named = kept_.empty() ? (p > 0 && base[0] != 0) : kept_[0] != 0;
    if (whole_if_named_ && named) {
      mode_ = collect::mode::whole;  // the caller's loop goes on collecting, from i
      return body_len_ > max_keep_ ? errc::length_too_large : errc::ok;
    }
    if (kept_.size() + p > max_keep_) return errc::length_too_large;
    bytes_view head(base, p);
    if (!kept_.empty()) {  // begun in an earlier call (so header_end_ is 0)
      kept_.insert(kept_.end(), base, base + p);
      head = bytes_view(kept_);
    }
    remaining_ -= static_cast<std::uint32_t>(p);
    i += p;
    mode_ = collect::mode::none;  // the rest of the body streams
    if (remaining_ == 0) in_body_ = false;
    report(on, head, header_end_, i);
    return errc::ok;
  }

  // Laid out small: every relayed connection carries one.
  std::uint32_t max_len_, max_keep_;
  std::uint32_t remaining_ = 0, body_len_ = 0;
  std::uint8_t hdr_[5] = {};
  std::uint8_t hdr_len_ = 0;
  char tag_ = 0;
  bool in_body_ = false, whole_if_named_ = false;
  collect::mode mode_ = collect::mode::none;
  std::uint8_t strings_left_ = 0;
  std::size_t header_end_ = 0;
  byte_buffer kept_;
};

}  // namespace pgwire
