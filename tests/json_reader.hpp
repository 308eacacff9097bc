#pragma once

// A small JSON reader for test data files (tests/data/). It reads strings
// the way the web platform hands them to its APIs: JSON's \uXXXX escapes
// are UTF-16, and a lone surrogate, which a USVString cannot hold, becomes
// U+FFFD (WebIDL's conversion); strings come out as UTF-8.

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace entangle::test {

struct json {
  enum class kind { null, boolean, number, string, array, object };
  kind k = kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json> items;
  std::vector<std::pair<std::string, json>> members;

  /// The member `key` of an object, or nullptr.
  const json* find(const std::string& key) const {
    for (auto& [name, v] : members)
      if (name == key)
        return &v;
    return nullptr;
  }
};

class json_reader {
public:
  explicit json_reader(std::string text) : s_(std::move(text)) {
  }

  static json read_file(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in)
      throw std::runtime_error("cannot open " + path);
    std::stringstream buf;
    buf << in.rdbuf();
    json_reader r{buf.str()};
    auto v = r.value();
    r.ws();
    if (r.i_ != r.s_.size())
      r.error("trailing characters");
    return v;
  }

private:
  [[noreturn]] void error(const char* what) const {
    throw std::runtime_error("JSON: " + std::string{what} + " at byte "
                             + std::to_string(i_));
  }

  void ws() {
    while (i_ < s_.size()
           && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r'
               || s_[i_] == '\t'))
      ++i_;
  }

  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool word(const char* w) {
    std::string_view v{w};
    if (s_.compare(i_, v.size(), v) != 0)
      return false;
    i_ += v.size();
    return true;
  }

  json value() {
    ws();
    if (i_ >= s_.size())
      error("unexpected end");
    json v;
    switch (s_[i_]) {
      case '{':
        ++i_;
        v.k = json::kind::object;
        if (eat('}'))
          return v;
        do {
          ws();
          auto key = string();
          if (!eat(':'))
            error("':' expected");
          v.members.emplace_back(std::move(key), value());
        } while (eat(','));
        if (!eat('}'))
          error("'}' expected");
        return v;
      case '[':
        ++i_;
        v.k = json::kind::array;
        if (eat(']'))
          return v;
        do
          v.items.push_back(value());
        while (eat(','));
        if (!eat(']'))
          error("']' expected");
        return v;
      case '"':
        v.k = json::kind::string;
        v.str = string();
        return v;
      default:
        break;
    }
    if (word("null"))
      return v;
    if (word("true") || word("false")) {
      v.k = json::kind::boolean;
      v.b = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';
      return v;
    }
    std::size_t used = 0;
    v.k = json::kind::number;
    v.num = std::stod(s_.substr(i_, 32), &used);
    i_ += used;
    return v;
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size())
      error("short \\u escape");
    unsigned v = std::stoul(s_.substr(i_, 4), nullptr, 16);
    i_ += 4;
    return v;
  }

  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"')
      error("string expected");
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size())
        error("unterminated string");
      char c = s_[i_++];
      if (c == '"')
        return out;
      if (c != '\\') {
        out += c; // raw UTF-8 passes through
        continue;
      }
      char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/':
          out += e;
          break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xd800 && cp <= 0xdbff && s_.compare(i_, 2, "\\u") == 0) {
            auto save = i_;
            i_ += 2;
            auto lo = hex4();
            if (lo >= 0xdc00 && lo <= 0xdfff)
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            else
              i_ = save; // a lone high surrogate; `lo` is read again
          }
          if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xfffd; // a lone surrogate
          put_utf8(out, cp);
          break;
        }
        default:
          error("bad escape");
      }
    }
  }

  std::string s_;
  std::size_t i_ = 0;
};

} // namespace entangle::test
