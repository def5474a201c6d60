// One store laid out from the real iSulad files in test/data/isulad, for the tests
// that drive the program from outside.
#pragma once

#include <string>

namespace lw::test {

namespace isulad {
inline const std::string kBase = "9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63";
inline const std::string kChild = "7db8f44a0a8e12ea4283e3180e98880007efbd5de2e7c98b67de9cdd4dfffb0b";
inline const std::string kBusybox = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b";
inline const std::string kCentos = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10";
inline const std::string kEtcd = "2aef2fee38d871f9b97d92653471394487c57042eae07b279b9852be3a78132b";

} // namespace isulad

// Lays the fixtures out as one store below root (how: see the .cpp).
void composeIsuladStore(const std::string &root);

} // namespace lw::test
