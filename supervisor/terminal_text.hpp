// Terminal text: what remora prints of untrusted text (a model's question, options and summary, a
// tool's output, a file name) made inert, so that it can never move the cursor, clear the screen,
// retitle the window, or forge a line of remora's own output.
//
// Control characters (C0, including ESC, CR, newline and tab; DEL; C1, U+0080-U+009F), the
// bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, which reorder what a line
// shows) and bytes that are not valid UTF-8 are shown escaped, as git shows paths: `\n`, `\r`,
// `\t`, `\x1b`, `\xc2\x9b`, `\u202e`. Everything else, printable non-ASCII text included, is
// shown as it is.
#pragma once

#include <string>
#include <string_view>

namespace remora {

// text on one line: every character above escaped, newlines included.
std::string inert_text(std::string_view text);

// Multi-line text: each line escaped as inert_text does (tabs kept, being layout), joined by
// newlines, every line after the first starting with `indent` so that no line can pass for a line
// of remora's own.
std::string inert_lines(std::string_view text, std::string_view indent = "  ");

// A file name as git quotes it: as it is when it holds only printable characters other than `"`
// and `\`, else in double quotes with `"` and `\` backslashed and the characters above escaped.
std::string quoted_name(std::string_view name);

}  // namespace remora
