// Symbol visibility for the layerwatch library: everything is hidden unless marked.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define LW_EXPORT __attribute__((visibility("default")))
#else
#define LW_EXPORT
#endif
