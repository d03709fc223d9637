// IQ4_NL block layout and its table of levels (see iq4_nl.cc).
#pragma once

#include <cstdint>

namespace bastion {

constexpr int kQK4_NL = 32;

// The 16 non-linear levels of IQ4_NL, as llama.cpp defines them (ggml-common.h kvalues_iq4nl).
constexpr int8_t kIq4NlLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK4_NL / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

}  // namespace bastion
