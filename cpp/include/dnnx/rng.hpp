// dnnx public C++ API: the counter-based random number generator.
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011,
// https://www.thesalmons.org/john/random123/papers/random123sc11.pdf). A draw is a pure
// function of (key, counter): dropout masks, shuffles and initial weights are reproducible
// and independent of how many threads compute them, because no generator state is shared.
#pragma once
#include <array>
#include <cstdint>

namespace dnnx {

/// Stream identifiers, mixed into the key so different uses never share draws.
enum class RngStream : std::uint64_t { init = 1, dropout = 2, shuffle = 3 };

/// splitmix64 finaliser: a cheap bijective mix used to derive keys.
inline std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Key for (seed, stream, sub-stream), e.g. (seed, dropout, layer index).
inline std::uint64_t rng_key(std::uint64_t seed, RngStream stream, std::uint64_t sub) noexcept {
  return mix64(mix64(seed ^ (static_cast<std::uint64_t>(stream) << 56)) + sub);
}

/// Four 32-bit random words for counter (hi, lo) under key.
inline std::array<std::uint32_t, 4> philox4x32(std::uint64_t key, std::uint64_t hi, std::uint64_t lo) noexcept {
  std::uint32_t c0 = static_cast<std::uint32_t>(lo), c1 = static_cast<std::uint32_t>(lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(hi), c3 = static_cast<std::uint32_t>(hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;
    const std::uint32_t h0 = static_cast<std::uint32_t>(p0 >> 32), l0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t h1 = static_cast<std::uint32_t>(p1 >> 32), l1 = static_cast<std::uint32_t>(p1);
    c0 = h1 ^ c1 ^ k0;
    c1 = l1;
    c2 = h0 ^ c3 ^ k1;
    c3 = l0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

/// Uniform in [0, 1) with 24 random bits: exact in float and double alike, so a float32
/// and a float64 network draw the same dropout masks.
inline double uniform24(std::uint32_t u) noexcept { return static_cast<double>(u >> 8) * (1.0 / 16777216.0); }

/// Uniform in (0, 1) with 53 random bits (never 0, so log() is safe).
inline double uniform53_open(std::uint32_t a, std::uint32_t b) noexcept {
  const std::uint64_t m = (static_cast<std::uint64_t>(a) << 21) ^ (b >> 11);
  return (static_cast<double>(m & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

/// Unbiased-enough integer in [0, bound) (Lemire's multiply-shift on 64 random bits).
inline std::uint64_t bounded64(std::uint32_t a, std::uint32_t b, std::uint64_t bound) noexcept {
  const std::uint64_t r = (static_cast<std::uint64_t>(a) << 32) | b;
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(r) * bound) >> 64);
}

}  // namespace dnnx
