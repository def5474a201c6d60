// Text for a terminal: what the program prints outside JSON. Names, ids and reasons
// come from files anyone with write access to the share can make, so none of their
// bytes reaches the terminal raw.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace lwcli {

// text with every control character shown as an escape: C0 bytes, DEL, NUL and
// invalid UTF-8 as \xNN; C1 controls and the bidirectional overrides (which reorder
// what a terminal shows) as \u{NNNN}; a backslash as \\. Printable UTF-8 is kept.
std::string printable(std::string_view text);

// Writes every byte of text to out (fputs would stop at a NUL).
void writeAll(std::FILE *out, std::string_view text);

} // namespace lwcli
