// LISTEN / UNLISTEN statements in SQL text: a small tokenizer, enough to find statement
// boundaries (';' outside quotes and comments) and read the first words of each statement.
#include "pool/listen_sql.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sluice {

namespace {

char lower(char c) { return char(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

bool contains_listen(std::string_view s) {
  // memchr for each case of the first letter: this runs over every client read in
  // transaction mode, large parameters included.
  static constexpr std::string_view word = "isten";
  const char* p = s.data();
  const char* end = s.data() + s.size();
  const char* lo = nullptr;
  const char* up = nullptr;
  while (end - p >= 6) {
    if (lo < p) lo = static_cast<const char*>(std::memchr(p, 'l', std::size_t(end - p)));
    if (up < p) up = static_cast<const char*>(std::memchr(p, 'L', std::size_t(end - p)));
    if (!lo) lo = end;
    if (!up) up = end;
    const char* at = std::min(lo, up);
    if (end - at < 6) return false;
    std::size_t k = 0;
    while (k < word.size() && lower(at[k + 1]) == word[k]) ++k;
    if (k == word.size()) return true;
    p = at + 1;
  }
  return false;
}

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool ident_char(char c) {
  return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

/// Walks one statement's tokens; words are what LISTEN / UNLISTEN need.
class lexer {
 public:
  explicit lexer(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }

  enum class tok { word, quoted, star, semicolon, other, end };
  /// The next token; `text` holds a word (lower-cased) or a quoted identifier's name.
  tok next(std::string& text) {
    skip_space();
    if (i_ >= s_.size()) return tok::end;
    const char c = s_[i_];
    if (c == ';') {
      ++i_;
      return tok::semicolon;
    }
    if (c == '*') {
      ++i_;
      return tok::star;
    }
    if (c == '"') {
      text.clear();
      ++i_;
      while (i_ < s_.size()) {
        if (s_[i_] == '"') {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == '"') {
            text.push_back('"');
            i_ += 2;
            continue;
          }
          ++i_;
          return tok::quoted;
        }
        text.push_back(s_[i_++]);
      }
      return tok::other;  // unterminated: not a name
    }
    if (ident_start(c)) {
      text.clear();
      while (i_ < s_.size() && ident_char(s_[i_])) text.push_back(lower(s_[i_++]));
      return tok::word;
    }
    if (c == '\'') {
      skip_quoted('\'');
      return tok::other;
    }
    if (c == '$') {
      skip_dollar();
      return tok::other;
    }
    ++i_;
    return tok::other;
  }

 private:
  void skip_space() {
    for (;;) {
      while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (s_.substr(i_, 2) == "--") {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (s_.substr(i_, 2) == "/*") {
        int depth = 0;  // PostgreSQL's block comments nest
        do {
          if (s_.substr(i_, 2) == "/*") {
            ++depth;
            i_ += 2;
          } else if (s_.substr(i_, 2) == "*/") {
            --depth;
            i_ += 2;
          } else {
            ++i_;
          }
        } while (depth > 0 && i_ < s_.size());
      } else {
        return;
      }
    }
  }
  void skip_quoted(char q) {
    ++i_;
    while (i_ < s_.size()) {
      if (s_[i_] == q) {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == q) {
          i_ += 2;
          continue;
        }
        ++i_;
        return;
      }
      ++i_;
    }
  }
  void skip_dollar() {
    // $tag$ ... $tag$, or a parameter ($1).
    std::size_t j = i_ + 1;
    while (j < s_.size() && (ident_char(s_[j]) && s_[j] != '$')) ++j;
    if (j >= s_.size() || s_[j] != '$') {
      i_ = j;
      return;
    }
    const std::string_view tag = s_.substr(i_, j + 1 - i_);
    const std::size_t end = s_.find(tag, j + 1);
    i_ = end == std::string_view::npos ? s_.size() : end + tag.size();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::vector<listen_op> listen_ops(std::string_view sql) {
  std::vector<listen_op> ops;
  if (!contains_listen(sql)) return ops;
  lexer lx(sql);
  std::string w;
  while (!lx.done()) {
    // First token of a statement.
    lexer::tok t = lx.next(w);
    if (t == lexer::tok::end) break;
    if (t == lexer::tok::semicolon) continue;
    if (t == lexer::tok::word && (w == "listen" || w == "unlisten")) {
      const bool un = w == "unlisten";
      std::string name;
      const lexer::tok n = lx.next(name);
      listen_op op;
      bool ok = true;
      // A zero-length quoted name is an error in PostgreSQL, as is a missing one.
      if (n == lexer::tok::word || (n == lexer::tok::quoted && !name.empty())) {
        op = {un ? listen_op::unlisten : listen_op::listen, name};
      } else if (un && n == lexer::tok::star) {
        op = {listen_op::unlisten_all, {}};
      } else {
        ok = false;  // not a statement PostgreSQL runs: its error tells the client
      }
      std::string rest;
      t = lx.next(rest);
      if (ok && (t == lexer::tok::semicolon || t == lexer::tok::end)) ops.push_back(std::move(op));
      if (t == lexer::tok::semicolon || t == lexer::tok::end) continue;
    }
    // Skip to the end of this statement.
    while (t != lexer::tok::semicolon && t != lexer::tok::end) t = lx.next(w);
  }
  return ops;
}

std::string quote_channel(std::string_view ch) {
  std::string out = "\"";
  for (char c : ch) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace sluice
