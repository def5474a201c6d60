// Symbol visibility for the layerwatch library: everything is hidden unless marked.
#pragma once

// LW_HIDDEN: a member of an exported class that is the library's own (a private
// helper), kept out of the dynamic symbol table.
#if defined(__GNUC__) || defined(__clang__)
#define LW_EXPORT __attribute__((visibility("default")))
#define LW_HIDDEN __attribute__((visibility("hidden")))
#else
#define LW_EXPORT
#define LW_HIDDEN
#endif
