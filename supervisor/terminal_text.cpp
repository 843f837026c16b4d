#include "supervisor/terminal_text.hpp"

#include <fmt/format.h>

#include "proto/bytes.hpp"

namespace remora {

namespace {

enum class Tabs { escape, keep };
enum class Quotes { keep, escape };  // escape: `"` and `\` backslashed, as inside a quoted name

// The character at text[i] (len bytes) escaped, or empty when it is shown as it is.
std::string escape(std::string_view text, std::size_t i, std::size_t len, Tabs tabs, Quotes quotes) {
  if (len == 0) return fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
  const auto c = static_cast<unsigned char>(text[i]);
  if (len == 1) {
    switch (c) {
      case '\n': return "\\n";
      case '\r': return "\\r";
      case '\t': return tabs == Tabs::keep ? "" : "\\t";
      case '"': return quotes == Quotes::escape ? "\\\"" : "";
      case '\\': return quotes == Quotes::escape ? "\\\\" : "";
      default: break;
    }
    if (c < 0x20 || c == 0x7f) return fmt::format("\\x{:02x}", c);
    return "";
  }
  const auto c1 = static_cast<unsigned char>(text[i + 1]);
  if (len == 2 && c == 0xc2 && c1 < 0xa0) return fmt::format("\\x{:02x}\\x{:02x}", c, c1);  // C1
  if (len == 3 && c == 0xe2) {
    const auto c2 = static_cast<unsigned char>(text[i + 2]);
    const unsigned cp = 0x2000u + ((c1 & 0x3fu) << 6) + (c2 & 0x3fu);
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return fmt::format("\\u{:04x}", cp);
  }
  return "";
}

// text with every character escape() names escaped; sets `changed` when one was.
std::string escaped(std::string_view text, Tabs tabs, Quotes quotes = Quotes::keep, bool* changed = nullptr) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = proto::utf8_char_length(text, i);
    std::string e = escape(text, i, len, tabs, quotes);
    if (e.empty()) {
      out.append(text, i, len);
    } else {
      out += e;
      if (changed) *changed = true;
    }
    i += len == 0 ? 1 : len;
  }
  return out;
}

}  // namespace

std::string inert_text(std::string_view text) { return escaped(text, Tabs::escape); }

std::string inert_lines(std::string_view text, std::string_view indent) {
  std::string out;
  for (std::size_t start = 0;;) {
    const auto nl = text.find('\n', start);
    if (start > 0) out.append("\n").append(indent);
    out += escaped(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start), Tabs::keep);
    if (nl == std::string_view::npos) return out;
    start = nl + 1;
  }
}

std::string quoted_name(std::string_view name) {
  bool unusual = false;
  std::string body = escaped(name, Tabs::escape, Quotes::escape, &unusual);
  return unusual ? "\"" + body + "\"" : body;
}

}  // namespace remora
